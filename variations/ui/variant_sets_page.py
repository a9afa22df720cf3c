"""The Variant sets page: pick and write variants, preview, save, load, use.

The set being edited is small (a few ids and hand-written variants) and lives
in session state; saved sets live on disk as YAML in the cache folder, read
and written by variations.variant_sets. A set put to use is kept as its YAML
text, which the Explore page reads back through the same checked loader.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import streamlit as st

from variations.errors import VariationsError
from variations.escaping import escape_markdown
from variations.rewrites import rewrite_message
from variations.ui import resources
from variations.variant_sets import (
    MAX_SET_BYTES,
    check_set_name,
    dump_variant_set,
    load_variant_set,
    make_variant,
    with_variant_set,
)
from variations.variants import Variant, VariantLibrary, load_library

BUILTIN = "vs_builtin"
CUSTOM = "vs_custom"
FIELDS = ("id", "label", "description", "template", "intent")
SAMPLE = "vs_sample"
NAME = "vs_name"
SAVED = "vs_saved"
UPLOAD = "vs_upload"
MESSAGE = "vs_message"
ERROR = "vs_error"
# Read by the Explore page: the set in use, as (name, YAML text).
ACTIVE_SET = "active_variant_set"
_NEW_TEMPLATE = "{prompt}\n\nAnswer like a pirate."
_NEW_INSTRUCTION = "Rewrite it as a pirate would say it."
KIND = "vs_kind"
TEMPLATE_KIND = "template"
INSTRUCTION_KIND = "instruction"
_KIND_LABELS = {TEMPLATE_KIND: "a template", INSTRUCTION_KIND: "a model"}


def show() -> None:
    library = load_library()
    _set_defaults()

    st.title("Variant sets")
    st.markdown(
        "A variant set is the list of rewrites a sweep sends: built-in ones and "
        "your own. Build one here, save it on this server or download it, and "
        "use it on the Explore page."
    )
    _messages()
    pick_column, write_column = st.columns(2, gap="large")
    with pick_column:
        _builtin_picker(library)
        _custom_list()
    with write_column:
        _editor()
    st.divider()
    _save_and_use(library)
    st.divider()
    _load(library)


def active_library(library: VariantLibrary) -> tuple[VariantLibrary, str | None]:
    """The library with the set in use added, and that set's name (Explore)."""
    active = st.session_state.get(ACTIVE_SET)
    if not active:
        return library, None
    name, text = active
    variants = load_variant_set(text, source=f"{name}.yaml")
    return with_variant_set(library, variants, name=name), name


def draft_variants(library: VariantLibrary) -> list[Variant]:
    """The set being edited: the chosen built-in variants, then custom ones."""
    chosen = [library.get(variant_id) for variant_id in st.session_state[BUILTIN]]
    custom = [make_variant(**fields) for fields in st.session_state[CUSTOM]]
    return [*chosen, *custom]


# Picking and writing


def _builtin_picker(library: VariantLibrary) -> None:
    labels = {
        variant.id: _builtin_label(library, variant) for variant in library.variants
    }
    st.multiselect(
        "Built-in variants",
        list(labels),
        format_func=labels.__getitem__,
        key=BUILTIN,
        placeholder="Pick built-in variants…",
        persist_state="session",
    )


def _custom_list() -> None:
    custom = st.session_state[CUSTOM]
    st.markdown(f"**Your own variants** · {len(custom)}")
    if not custom:
        st.caption("None yet: write one on the right and add it to the set.")
    for index, fields in enumerate(custom):
        text, edit, remove = st.columns([4, 1, 1], vertical_alignment="center")
        # Ids are checked snake_case, safe inside a code span.
        text.markdown(f"**{escape_markdown(fields['label'])}** · `{fields['id']}`")
        edit.button("Edit", key=f"vs_edit_{index}", on_click=_edit, args=(index,))
        remove.button(
            "Remove", key=f"vs_remove_{index}", on_click=_remove, args=(index,)
        )


def _editor() -> None:
    st.markdown("**Write a variant**")
    st.text_input("Id", key="vs_id", help="Lowercase letters, digits, underscores.")
    st.text_input("Label", key="vs_label", persist_state="session")
    st.text_input("Description", key="vs_description", persist_state="session")
    st.radio(
        "Written by",
        [TEMPLATE_KIND, INSTRUCTION_KIND],
        key=KIND,
        format_func=_KIND_LABELS.__getitem__,
        horizontal=True,
        persist_state="session",
        help="A template wraps your prompt in fixed words. An instruction asks "
        "a model to rewrite your prompt; you see each rewrite before it is sent.",
    )
    if st.session_state[KIND] == INSTRUCTION_KIND:
        st.text_area(
            "Instruction to the rewriting model",
            key="vs_instruction",
            height=90,
            persist_state="session",
            help="For example: Rewrite it as an angry customer would say it.",
        )
    else:
        st.text_area(
            "Template",
            key="vs_template",
            height=120,
            persist_state="session",
            help="Your prompt goes where {prompt} stands; use it exactly once.",
        )
    st.radio(
        "Intent",
        ["keep", "reframe"],
        key="vs_intent",
        horizontal=True,
        persist_state="session",
        help="keep: asks for the same thing in other words; reframe: changes "
        "what is asked (a leading question, a false premise).",
    )
    st.button("Add to the set", key="vs_add", on_click=_add, type="primary")
    _preview()


def _preview() -> None:
    st.text_input("Preview on", key=SAMPLE, persist_state="session")
    try:
        variant = make_variant(**_editor_fields())
    except VariationsError as exc:
        st.caption(f"No preview yet: {exc}")
        return
    sample = st.session_state[SAMPLE] or ""
    if variant.instruction is not None:
        st.caption(
            "What the rewriting model is asked. Its rewrite appears on the "
            "Explore page, with how well it keeps the meaning, before it is sent."
        )
        st.code(
            rewrite_message(sample, variant.instruction),
            language=None,
            wrap_lines=True,
        )
        return
    st.code(variant.render(sample), language=None, wrap_lines=True)


# Saving, using, loading


def _save_and_use(library: VariantLibrary) -> None:
    try:
        variants = draft_variants(library)
    except VariationsError as exc:
        st.error(str(exc))
        return
    st.subheader(f"This set: {len(variants)} variants", anchor=False)
    st.text_input("Name", key=NAME, help="Letters, digits, hyphens, underscores.")
    save, use, download = st.columns(3)
    save.button("Save on this server", key="vs_save", on_click=_save, args=(library,))
    use.button("Use on the Explore page", key="vs_use", on_click=_use, args=(library,))
    download.download_button(
        "Download as YAML",
        dump_variant_set(variants),
        file_name=f"{st.session_state[NAME] or 'variant-set'}.yaml",
        mime="application/x-yaml",
        on_click="ignore",
        icon=":material/download:",
        disabled=not variants,
    )


def _load(library: VariantLibrary) -> None:
    st.subheader("Open a set", anchor=False)
    saved_column, upload_column = st.columns(2, gap="large")
    names = resources.get_variant_sets().names()
    with saved_column:
        st.selectbox(
            "Saved on this server",
            names,
            index=None,
            key=SAVED,
            placeholder="Pick a saved set…" if names else "No saved sets yet",
        )
        st.button(
            "Open",
            key="vs_open",
            on_click=_open_saved,
            args=(library,),
            disabled=not names,
        )
    with upload_column:
        st.file_uploader(
            "Or upload a YAML file",
            type=["yaml", "yml"],
            key=UPLOAD,
            on_change=_open_upload,
            args=(library,),
            help=f"Up to {MAX_SET_BYTES // 1000} kB, as downloaded from this page.",
        )


def _save(library: VariantLibrary) -> None:
    name = st.session_state[NAME].strip()
    _report(
        lambda: resources.get_variant_sets().save(name, draft_variants(library)),
        f"Saved the set {name!r} on this server.",
    )


def _use(library: VariantLibrary) -> None:
    name = st.session_state[NAME].strip() or "unsaved"

    def use() -> None:
        variants = draft_variants(library)
        if not variants:
            raise VariationsError("The set is empty: add at least one variant.")
        text = dump_variant_set(variants)
        merged = with_variant_set(library, load_variant_set(text), name=name)
        state = st.session_state
        state[ACTIVE_SET] = (name, text)
        state["defaults_set"] = True  # the Explore page must not add its own
        chosen = {variant.id for variant in variants}
        for variant in merged.variants:
            state[f"variant_{variant.id}"] = variant.id in chosen

    _report(
        use,
        f"The set {name!r} is in use: its variants are selected on the Explore page.",
    )


def _open_saved(library: VariantLibrary) -> None:
    name = st.session_state.get(SAVED)
    if name:
        _report(
            lambda: _fill(library, name, resources.get_variant_sets().load(name)),
            f"Opened the set {name!r}.",
        )


def _open_upload(library: VariantLibrary) -> None:
    uploaded = st.session_state.get(UPLOAD)
    if uploaded is None:
        return
    name = uploaded.name.rsplit(".", 1)[0]

    def read() -> None:
        if uploaded.size > MAX_SET_BYTES:
            raise VariationsError(
                f"Not a valid variant set: {uploaded.name} is {uploaded.size:,} "
                f"bytes; variant sets are capped at {MAX_SET_BYTES:,} bytes."
            )
        variants = load_variant_set(uploaded.getvalue(), source=uploaded.name)
        _fill(library, name, variants)

    _report(read, f"Opened {uploaded.name!r}.")


def _fill(library: VariantLibrary, name: str, variants: tuple[Variant, ...]) -> None:
    """Make a loaded set the one being edited."""
    builtin = {variant.id: variant for variant in library.variants}
    state = st.session_state
    state[BUILTIN] = [v.id for v in variants if builtin.get(v.id) == v]
    state[CUSTOM] = [_fields(v) for v in variants if builtin.get(v.id) != v]
    state[NAME] = name if _safe_name(name) else ""


# Small helpers


def _report(action: Callable[[], object], success: str) -> None:
    """Run a callback's action; keep its outcome for the next draw."""
    st.session_state.pop(MESSAGE, None)
    st.session_state.pop(ERROR, None)
    try:
        action()
    except VariationsError as exc:
        st.session_state[ERROR] = str(exc)
        return
    st.session_state[MESSAGE] = success


def _messages() -> None:
    if ERROR in st.session_state:
        st.error(st.session_state[ERROR])
    if MESSAGE in st.session_state:
        st.success(st.session_state[MESSAGE])


def _add() -> None:
    def add() -> None:
        fields = _fields(make_variant(**_editor_fields()))
        others = [f for f in st.session_state[CUSTOM] if f["id"] != fields["id"]]
        st.session_state[CUSTOM] = [*others, fields]

    _report(add, f"Added {st.session_state['vs_label']!r} to the set.")


def _edit(index: int) -> None:
    fields = st.session_state[CUSTOM][index]
    for field in FIELDS:
        st.session_state[f"vs_{field}"] = fields[field]
    instruction = fields.get("instruction")
    st.session_state[KIND] = INSTRUCTION_KIND if instruction else TEMPLATE_KIND
    if instruction:
        st.session_state["vs_instruction"] = instruction


def _remove(index: int) -> None:
    custom = list(st.session_state[CUSTOM])
    del custom[index]
    st.session_state[CUSTOM] = custom


def _editor_fields() -> dict[str, str]:
    fields = {field: st.session_state[f"vs_{field}"] for field in FIELDS}
    if st.session_state[KIND] == INSTRUCTION_KIND:
        fields["instruction"] = st.session_state["vs_instruction"]
    return fields


def _fields(variant: Variant) -> dict[str, str]:
    """The variant as the editor keeps it (transform and instruction if any)."""
    values = asdict(variant)
    fields = {field: str(values[field]) for field in FIELDS}
    if variant.transform:
        fields["transform"] = variant.transform
    if variant.instruction is not None:
        fields["instruction"] = variant.instruction
    return fields


def _safe_name(name: str) -> bool:
    try:
        check_set_name(name)
    except VariationsError:
        return False
    return True


def _builtin_label(library: VariantLibrary, variant: Variant) -> str:
    category = next(c.label for c in library.categories if c.id == variant.category)
    return f"{category} · {variant.label}"


def _set_defaults() -> None:
    defaults: dict[str, Any] = {
        BUILTIN: [],
        CUSTOM: [],
        SAMPLE: "Should I learn Python or JavaScript first?",
        NAME: "",
        "vs_id": "pirate",
        "vs_label": "Pirate",
        "vs_description": "Asks for the answer in a pirate's voice.",
        "vs_template": _NEW_TEMPLATE,
        "vs_instruction": _NEW_INSTRUCTION,
        KIND: TEMPLATE_KIND,
        "vs_intent": "keep",
    }
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)
