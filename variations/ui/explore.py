"""The Explore page: type a prompt, pick variants and models, run, see the shift.

The page keeps only small choices in session state (the form, the sweep to
show, the error messages of failed cells); answers are read back from the
completion cache on every redraw.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import streamlit as st

from variations.cache import request_key
from variations.errors import ShareLinkError, VariationsError
from variations.escaping import escape_markdown
from variations.examples import DEFAULT_VARIANTS, EXAMPLE_PROMPTS
from variations.fanout import pending_requests
from variations.progress import SweepProgress
from variations.records import BASELINE_ID, Completion
from variations.replay import is_fully_stored, stored_completions
from variations.rewrites import (
    Rewrite,
    cached_rewrites,
    rewrite_variants,
    score_rewrites,
    write_rewrites,
    written_texts,
)
from variations.settings import (
    MAX_SAMPLES,
    MAX_TEMPERATURE,
    MAX_TOKENS_LIMIT,
    ServerSettings,
)
from variations.sharing import (
    MAX_SHARED_PROMPT_CHARS,
    SweepForm,
    decode_share,
    encode_share,
    is_share_query,
    make_form,
    sweep_spec,
)
from variations.sweep import SweepSpec, build_requests, score_sweep, stream_sweep
from variations.ui import resources, variant_sets_page
from variations.variants import (
    BASELINE as BASELINE_VARIANT,
)
from variations.variants import (
    Variant,
    VariantLibrary,
    load_library,
    render_all,
)

if TYPE_CHECKING:
    from variations.report import SweepReport

PROMPT = "prompt"
EXAMPLE = "example"
MODELS = "models"
SAMPLES = "samples"
TEMPERATURE = "temperature"
MAX_TOKENS = "max_tokens"
REWRITER = "rewriter"
RUNNING = "running"
WRITING = "writing_form"
REWRITE_ERRORS = "rewrite_errors"
REWRITES_READY = "rewrites_ready"
PENDING = "pending_form"
SHOWN = "shown_form"
CELL_ERRORS = "cell_errors"
FORM_ERROR = "form_error"
SHARE_ERROR = "share_error"
APPLIED_QUERY = "applied_query"
# Redraw the progress at most this often: a cached sweep arrives all at once.
_REDRAW_S = 0.2


def show() -> None:
    settings = _settings_or_stop()
    library = _library()
    _restore_share_link(settings, library)
    _set_defaults(settings)

    st.title("How does the way you ask change the answer?")
    st.markdown(
        "Type a question. The explorer rewrites it in different tones and "
        "framings, sends every version to the models, and shows how far each "
        "version moved each model's answer."
    )
    if SHARE_ERROR in st.session_state:
        st.warning(st.session_state[SHARE_ERROR])

    # Form beside results on a wide screen; stacked, form first, on a phone.
    form_column, results_column = st.columns([1, 2], gap="large")
    with form_column:
        _form(settings, library)
    with results_column:
        if st.session_state.get(RUNNING) and WRITING in st.session_state:
            _write_pending(settings, library)
        elif st.session_state.get(RUNNING):
            _run_pending(settings, library)
        elif SHOWN in st.session_state:
            _results(settings, library)
        else:
            _preview(settings, library)
    resources.warm_up()


def variant_key(variant: Variant) -> str:
    return f"variant_{variant.id}"


# The form


def _form(settings: ServerSettings, library: VariantLibrary) -> None:
    running = bool(st.session_state.get(RUNNING))
    _prompt_inputs(running)
    _run_button(settings, library, running)
    st.multiselect(
        "Models",
        settings.models,
        key=MODELS,
        disabled=running,
        help="The models this server offers. The local model runs on the "
        "server itself and needs no API key.",
        persist_state="session",
    )
    _variant_picker(library, running)
    _advanced(settings, running)
    if SHOWN in st.session_state:
        _folded_preview(settings, library)


def _prompt_inputs(running: bool) -> None:
    st.text_area(
        "Your prompt",
        key=PROMPT,
        max_chars=MAX_SHARED_PROMPT_CHARS,
        height=110,
        placeholder="Ask anything, e.g. Should I learn Python or JavaScript first?",
        disabled=running,
        persist_state="session",
    )
    st.selectbox(
        "Or start from an example",
        [example.prompt for example in EXAMPLE_PROMPTS],
        index=None,
        format_func=_example_label,
        key=EXAMPLE,
        placeholder="Pick an example prompt…",
        on_change=_use_example,
        disabled=running,
    )


def _advanced(settings: ServerSettings, running: bool) -> None:
    with st.expander("Advanced settings"):
        st.slider(
            "Samples per variant",
            1,
            MAX_SAMPLES,
            key=SAMPLES,
            disabled=running,
            help="Ask each version several times. With 2 or more, the explorer "
            "measures how much answers move when nothing changes (the noise "
            "floor), so you can tell a real shift from chance.",
            persist_state="session",
        )
        st.slider(
            "Temperature",
            0.0,
            MAX_TEMPERATURE,
            step=0.1,
            key=TEMPERATURE,
            disabled=running,
            help="Higher values make answers more varied.",
            persist_state="session",
        )
        st.number_input(
            "Max tokens per answer",
            min_value=8,
            max_value=MAX_TOKENS_LIMIT,
            step=8,
            key=MAX_TOKENS,
            disabled=running,
            help="Longer answers take longer; the local model writes about 8 "
            "tokens a second.",
            persist_state="session",
        )
        st.selectbox(
            "Model that writes the model-written variants",
            settings.models,
            key=REWRITER,
            disabled=running,
            help="Variants under “Written by a model” are rewrites of your prompt "
            "by this model. You see each one before it is sent.",
            persist_state="session",
        )


def _variant_picker(library: VariantLibrary, running: bool) -> None:
    chosen = sum(bool(st.session_state.get(variant_key(v))) for v in library.variants)
    st.markdown(f"**Variants** · {chosen} of {len(library.variants)} selected")
    _active_set_note(running)
    for category in library.categories:
        variants = library.in_category(category.id)
        selected = sum(bool(st.session_state.get(variant_key(v))) for v in variants)
        label = f"{category.label} ({selected} of {len(variants)})"
        with st.expander(label, key=f"category_{category.id}"):
            st.caption(category.description)
            _category_buttons(category.id, variants, running)
            for variant in variants:
                st.checkbox(
                    variant.label,
                    key=variant_key(variant),
                    help=variant.description,
                    disabled=running,
                    persist_state="session",
                )


def _active_set_note(running: bool) -> None:
    active = st.session_state.get(variant_sets_page.ACTIVE_SET)
    if not active:
        return
    note, stop = st.columns([3, 1], vertical_alignment="center")
    note.caption(
        f"Using the variant set “{escape_markdown(active[0])}”: its own variants "
        "are under *Custom*."
    )
    stop.button(
        "Stop using",
        key="stop_variant_set",
        on_click=_stop_using_set,
        disabled=running,
        type="tertiary",
    )


def _category_buttons(
    category: str, variants: tuple[Variant, ...], running: bool
) -> None:
    select_all, clear = st.columns(2)
    select_all.button(
        "Select all",
        key=f"all_{category}",
        on_click=_set_variants,
        args=(variants, True),
        disabled=running,
        type="tertiary",
    )
    clear.button(
        "Clear",
        key=f"none_{category}",
        on_click=_set_variants,
        args=(variants, False),
        disabled=running,
        type="tertiary",
    )


def _preview(settings: ServerSettings, library: VariantLibrary) -> None:
    """The exact text of every prompt a Run would send, before anything is sent."""
    chosen = _chosen_variants(library)
    st.subheader(f"The {len(chosen) + 1} prompts that will be sent")
    st.caption(
        "Press Run to send each of them to every model you picked. The results "
        "appear here: how far each version moved the answer, in words and charts."
    )
    # In one block, which the progress of a run replaces whole: loose elements
    # would linger, faded, below it until the run ends.
    if st.session_state.pop(REWRITES_READY, False):
        st.info(
            "The model-written versions are ready: read them below, then press "
            "Run to send every prompt."
        )
    with st.expander("The prompts", expanded=True):
        _prompt_texts(settings, chosen)


def _folded_preview(settings: ServerSettings, library: VariantLibrary) -> None:
    chosen = _chosen_variants(library)
    label = f"Preview the {len(chosen) + 1} prompts a new Run sends"
    with st.expander(label, key="preview"):
        _prompt_texts(settings, chosen)


def _prompt_texts(settings: ServerSettings, chosen: list[Variant]) -> None:
    prompt = st.session_state.get(PROMPT) or ""
    if not prompt.strip():
        st.info("Type a prompt to see each version of it.")
        return
    rewriter = st.session_state.get(REWRITER) or settings.rewrite_model
    written, _ = _written(prompt, chosen, rewriter, settings)
    by_variant = {rewrite.variant_id: rewrite for rewrite in written}
    texts = dict(render_all(prompt, chosen, written=written_texts(written)))
    for variant in [BASELINE_VARIANT, *chosen]:
        st.markdown(f"**{variant.label}** · {variant.description}")
        if variant.is_rewrite:
            _rewrite_note(by_variant.get(variant.id), rewriter)
        if variant in texts:
            st.code(texts[variant], language=None, wrap_lines=True)


def _rewrite_note(rewrite: Rewrite | None, rewriter: str) -> None:
    """Who writes a model-written variant, and whether it kept the meaning."""
    model = escape_markdown(rewriter)
    if rewrite is None:
        st.caption(
            f"Written by {model} when you press Run; you see it here before it is sent."
        )
    elif not rewrite.ok:
        st.error(
            f"{model} could not write this one, so it is left out: {rewrite.error}"
        )
    elif rewrite.unchanged:
        st.warning(
            f"{model} gave your prompt back unchanged, so this version is the "
            "original again: its shift only shows re-asking. Try another "
            "rewriting model."
        )
    elif rewrite.drifted:
        st.warning(
            f"Written by {model}, but it drifted from your prompt's meaning "
            f"(similarity {rewrite.similarity:.2f}): its shift is flagged, not "
            "counted in the headline."
        )
    else:
        st.caption(
            f"Written by {model} · keeps the meaning (similarity "
            f"{rewrite.similarity:.2f})."
        )


def _run_button(
    settings: ServerSettings, library: VariantLibrary, running: bool
) -> None:
    variants = len(_chosen_variants(library)) + 1
    models = len(st.session_state.get(MODELS) or [])
    samples = int(st.session_state.get(SAMPLES) or 1)
    st.button(
        "Running…" if running else "Run",
        key="run",
        type="primary",
        disabled=running,
        on_click=_start_run,
        args=(settings, library),
        width="stretch",
        icon=":material/play_arrow:",
    )
    st.caption(
        f"Sends {variants * models * samples} requests: {variants} prompts, "
        f"{_plural(models, 'model')}, {_plural(samples, 'sample')} each. Answers "
        "asked for before come from the cache at once."
    )
    if FORM_ERROR in st.session_state:
        st.error(st.session_state[FORM_ERROR])


# Running a sweep


def _start_run(settings: ServerSettings, library: VariantLibrary) -> None:
    if st.session_state.get(RUNNING):
        return  # a sweep is already running in this session
    try:
        form = _read_form(settings, library)
    except VariationsError as exc:
        st.session_state[FORM_ERROR] = str(exc)
        return
    st.session_state.pop(FORM_ERROR, None)
    variants = [library.get(variant_id) for variant_id in form.variants]
    rewrites, missing = _written(form.prompt, variants, form.rewriter, settings)
    if missing:
        # Written first and shown: a model's rewrite is never sent unseen.
        st.session_state[WRITING] = form.model_dump()
        st.session_state[RUNNING] = True
        return
    spec = sweep_spec(form, library, api_base=settings.api_base, rewrites=rewrites)
    if is_fully_stored(spec, resources.get_cache()):
        _show(form, errors={})  # nothing to send: draw it in this very run
        return
    st.session_state[PENDING] = form.model_dump()
    st.session_state[RUNNING] = True


def _read_form(settings: ServerSettings, library: VariantLibrary) -> SweepForm:
    state = st.session_state
    return make_form(
        state.get(PROMPT) or "",
        [variant.id for variant in _chosen_variants(library)],
        list(state.get(MODELS) or []),
        samples=int(state.get(SAMPLES) or 1),
        temperature=float(state.get(TEMPERATURE) or 0.0),
        max_tokens=int(state.get(MAX_TOKENS) or settings.default_max_tokens),
        settings=settings,
        rewriter=state.get(REWRITER) or settings.rewrite_model,
    )


def _write_pending(settings: ServerSettings, library: VariantLibrary) -> None:
    """Write the model-written variants, then show them; Run sends them next."""
    try:
        form = SweepForm.model_validate(st.session_state.pop(WRITING))
        variants = rewrite_variants(library.get(v) for v in form.variants)
        with st.spinner(
            f"{escape_markdown(form.rewriter)} is writing "
            f"{len(variants)} versions of your prompt…"
        ):
            written = resources.get_loop().run(
                write_rewrites(
                    [(form.prompt, variant) for variant in variants],
                    resources.get_completion_fn(),
                    model=form.rewriter,
                    api_base=settings.api_base,
                    cache=resources.get_cache(),
                )
            )
    finally:
        st.session_state[RUNNING] = False
    errors = st.session_state.setdefault(REWRITE_ERRORS, {})
    for rewrite in written:
        if not rewrite.ok:
            errors[_rewrite_key(form.prompt, rewrite.variant_id, form.rewriter)] = (
                rewrite.error
            )
    st.session_state.pop(SHOWN, None)
    st.session_state[REWRITES_READY] = True
    st.rerun()


def _written(
    prompt: str, variants: list[Variant], rewriter: str, settings: ServerSettings
) -> tuple[list[Rewrite], list[Variant]]:
    """The variants' rewrites known so far (scored), and those not written yet.

    A rewrite that failed in this session is known too, as its error: Run then
    leaves it out instead of trying it again and again.
    """
    to_write = rewrite_variants(variants)
    if not to_write:
        return [], []
    found = cached_rewrites(
        [(prompt, variant) for variant in to_write],
        resources.get_cache(),
        model=rewriter,
        api_base=settings.api_base,
    )
    errors = st.session_state.get(REWRITE_ERRORS) or {}
    written, failed, missing = [], [], []
    for variant, rewrite in zip(to_write, found, strict=True):
        error = errors.get(_rewrite_key(prompt, variant.id, rewriter))
        if rewrite is not None:
            written.append(rewrite)
        elif error is not None:
            failed.append(Rewrite(prompt, variant.id, rewriter, "", error=error))
        else:
            missing.append(variant)
    scored = score_rewrites(written, to_write, resources.get_embedder())
    return [*scored, *failed], missing


def _rewrite_key(prompt: str, variant_id: str, rewriter: str) -> str:
    return "\x1f".join((rewriter, variant_id, prompt))


def _form_spec(
    form: SweepForm, library: VariantLibrary, settings: ServerSettings
) -> SweepSpec:
    """The sweep of a form, with the rewrites of its model-written variants."""
    variants = [library.get(variant_id) for variant_id in form.variants]
    rewrites, _ = _written(form.prompt, variants, form.rewriter, settings)
    return sweep_spec(form, library, api_base=settings.api_base, rewrites=rewrites)


def _run_pending(settings: ServerSettings, library: VariantLibrary) -> None:
    try:
        form = SweepForm.model_validate(st.session_state.pop(PENDING))
        spec = _form_spec(form, library, settings)
        errors = _stream(spec)
    finally:
        # Also when the run is interrupted (a rerun, a closed tab): the answers
        # that arrived are cached, and the form must not stay locked.
        st.session_state[RUNNING] = False
    _show(form, errors)
    st.rerun()


def _show(form: SweepForm, errors: dict[str, str]) -> None:
    """Make this sweep the one on the page, and the URL its share link."""
    st.session_state[SHOWN] = form.model_dump()
    st.session_state[CELL_ERRORS] = errors
    _publish_share_link(form)


def _stream(spec: SweepSpec) -> dict[str, str]:
    """Send the sweep, drawing progress as answers arrive; return cell errors."""
    from variations.tables import arrivals_frame

    requests = build_requests(spec)
    progress = SweepProgress.of(requests)
    cache = resources.get_cache()
    if pending_requests(requests, cache):
        resources.get_embedder().preload()

    labels = {variant.id: variant.label for variant in spec.variants}
    st.subheader("Asking the models…")
    st.caption(
        "Answers appear below as they arrive; the charts follow once all are in. "
        "A model's first answer can take a few seconds while it loads."
    )
    bar = st.progress(0.0, text=progress.overall())
    statuses = {model: st.empty() for model in spec.models}
    for model, status in statuses.items():
        status.caption(f"**{escape_markdown(model)}** · {progress.model_status(model)}")
    arrivals = st.empty()
    received = []
    drawn_at = 0.0
    for completion in resources.get_loop().iterate(
        stream_sweep(spec, resources.get_completion_fn(), cache=cache)
    ):
        progress.record(completion)
        received.append(completion)
        if time.monotonic() - drawn_at > _REDRAW_S or progress.fraction >= 1:
            drawn_at = time.monotonic()
            bar.progress(progress.fraction, text=progress.overall())
            for model, status in statuses.items():
                status.caption(
                    f"**{escape_markdown(model)}** · {progress.model_status(model)}"
                )
            arrivals.dataframe(
                arrivals_frame(received, {BASELINE_ID: "Original", **labels}),
                hide_index=True,
                height=min(400, 40 + 35 * len(received)),
            )
    return {request_key(c.request): c.error or "failed" for c in received if not c.ok}


# Results


def _results(settings: ServerSettings, library: VariantLibrary) -> None:
    # pandas and altair are imported here, not at the top: the form is drawn
    # (the first paint) without waiting for them.
    from variations.ui import components

    form = SweepForm.model_validate(st.session_state[SHOWN])
    try:
        spec = _form_spec(form, library, settings)
    except VariationsError as exc:
        st.warning(f"These results can no longer be shown: {exc}")
        return
    errors = st.session_state.get(CELL_ERRORS) or {}
    completions = stored_completions(spec, resources.get_cache(), errors=errors)
    with st.spinner("Measuring how far the answers moved…"):
        report = _report(
            form.model_dump_json(),
            "".join("1" if completion.ok else "0" for completion in completions),
            tuple(sorted(errors.items())),
            _spec=spec,
            _completions=completions,
        )

    result = report.result
    components.headline(report)
    components.divergence_section(report)
    components.heatmap_section(report)
    components.map_section(report)
    components.compare_section(result, report.headline.variant_id)
    components.grid_section(result)
    st.divider()
    components.downloads(result)
    components.share_box(form, _share_query(form))


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def _report(
    form_json: str,
    answered: str,
    errors: tuple[tuple[str, str], ...],
    *,
    _spec: SweepSpec,
    _completions: list[Completion],
) -> SweepReport:
    """The scored sweep and its charts, cached by the form and which cells answered.

    Redraws (choosing a model for the heatmap, a variant to compare) reuse it;
    a sweep whose failed cells later got an answer gets a fresh report.
    """
    from variations.report import build_report

    result = score_sweep(_spec, _completions, resources.get_embedder())
    return build_report(result)


def _share_query(form: SweepForm) -> dict[str, str] | None:
    try:
        return encode_share(form)
    except ShareLinkError:
        return None


def _publish_share_link(form: SweepForm) -> None:
    query = _share_query(form)
    if query is None:
        st.query_params.clear()
        return
    st.query_params.from_dict(query)
    st.session_state[APPLIED_QUERY] = query


# Share links and defaults


def _restore_share_link(settings: ServerSettings, library: VariantLibrary) -> None:
    """Fill the form from the URL once per link; show results if all cached."""
    query = st.query_params.to_dict()
    if not is_share_query(query) or query == st.session_state.get(APPLIED_QUERY):
        return
    st.session_state[APPLIED_QUERY] = query
    st.session_state.pop(SHARE_ERROR, None)
    try:
        form = decode_share(
            query,
            known_variants={variant.id for variant in library.variants},
            allowed_models=settings.models,
        )
        spec = _form_spec(form, library, settings)
    except VariationsError as exc:
        st.session_state[SHARE_ERROR] = str(exc)
        return

    _fill_form(form, library)
    if is_fully_stored(spec, resources.get_cache()):
        st.session_state[SHOWN] = form.model_dump()
        st.session_state[CELL_ERRORS] = {}
    else:
        st.session_state.pop(SHOWN, None)


def _fill_form(form: SweepForm, library: VariantLibrary) -> None:
    state = st.session_state
    state[PROMPT] = form.prompt
    state[MODELS] = list(form.models)
    state[SAMPLES] = form.samples
    state[TEMPERATURE] = form.temperature
    state[MAX_TOKENS] = form.max_tokens
    state[REWRITER] = form.rewriter
    for variant in library.variants:
        state[variant_key(variant)] = variant.id in form.variants


def _set_defaults(settings: ServerSettings) -> None:
    defaults: dict[str, Any] = {
        PROMPT: EXAMPLE_PROMPTS[0].prompt,
        MODELS: list(settings.default_models),
        SAMPLES: 1,
        TEMPERATURE: 0.7,
        MAX_TOKENS: settings.default_max_tokens,
        REWRITER: settings.rewrite_model,
    }
    if "defaults_set" not in st.session_state:
        for variant_id in DEFAULT_VARIANTS:
            defaults[f"variant_{variant_id}"] = True
        st.session_state["defaults_set"] = True
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)


def _library() -> VariantLibrary:
    """The built-in variants, plus those of the variant set in use, if any."""
    library = load_library()
    try:
        return variant_sets_page.active_library(library)[0]
    except VariationsError as exc:
        st.session_state.pop(variant_sets_page.ACTIVE_SET, None)
        st.warning(f"The variant set in use could not be read: {exc}")
        return library


def _stop_using_set() -> None:
    st.session_state.pop(variant_sets_page.ACTIVE_SET, None)


def _chosen_variants(library: VariantLibrary) -> list[Variant]:
    return [v for v in library.variants if st.session_state.get(variant_key(v))]


def _set_variants(variants: tuple[Variant, ...], value: bool) -> None:
    for variant in variants:
        st.session_state[variant_key(variant)] = value


def _use_example() -> None:
    example = st.session_state.get(EXAMPLE)
    if example:
        st.session_state[PROMPT] = example


def _example_label(prompt: str) -> str:
    kind = next(e.kind for e in EXAMPLE_PROMPTS if e.prompt == prompt)
    return f"{kind} · {prompt}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _settings_or_stop() -> ServerSettings:
    try:
        return resources.get_settings()
    except VariationsError as exc:
        st.error(f"This server is misconfigured: {exc}")
        st.stop()
        raise  # st.stop() raises; this line only satisfies the type checker
