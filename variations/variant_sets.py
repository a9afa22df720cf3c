"""A chosen set of variants saved as YAML, complete enough to read back alone.

Each entry carries its full definition (template included), so a saved set
still says what was sent after the built-in library changes. Sets may come
from strangers (an upload on a public server): they are read with the safe
loader, capped in size, refused if they use YAML aliases, and every error
names the file, the line and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import VariantFileError
from .records import BASELINE_ID
from .variants import (
    PLACEHOLDER,
    Category,
    Intent,
    Transform,
    Variant,
    VariantLibrary,
    check_template_or_instruction,
    load_library,
)

SCHEMA_VERSION = 1
# A set of 200 variants with long templates fits in 64 kB many times over.
MAX_SET_BYTES = 64_000
MAX_SET_VARIANTS = 200
MAX_TEMPLATE_CHARS = 4000
# Saved sets live on the server, shared by every visitor: keep their number sane.
MAX_SAVED_SETS = 500
CUSTOM_CATEGORY = "custom"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,59}")
_HEADER = "# A variant set saved from the Prompt Variations explorer.\n"
_SET_SUFFIXES = (".yaml", ".yml")


def dump_variant_set(variants: Iterable[Variant]) -> str:
    """The variants as a YAML document: `variants:` with one mapping each."""
    entries = [_entry(variant) for variant in variants]
    body: str = yaml.dump(
        {"version": SCHEMA_VERSION, "variants": entries},
        Dumper=_BlockDumper,
        sort_keys=False,
        allow_unicode=True,
        width=88,
    )
    return _HEADER + body


def load_variant_set(
    text: str | bytes, *, source: str = "variant set"
) -> tuple[Variant, ...]:
    """Read a saved set back, refusing unknown keys and malformed templates.

    `source` names the file in error messages, which also give the line and
    the field at fault.
    """
    text = _checked_text(text, source)
    node, data = _parse(text, source)
    try:
        spec = _VariantSet.model_validate(data)
    except ValidationError as exc:
        raise VariantFileError(
            f"Not a valid variant set: {_describe(exc, node, source)}"
        ) from exc
    _check_unique_ids(spec, node, source)
    return tuple(Variant(**entry.model_dump()) for entry in spec.variants)


def make_variant(
    *,
    id: str,
    label: str,
    description: str,
    template: str,
    intent: str,
    category: str = CUSTOM_CATEGORY,
    transform: str | None = None,
    instruction: str | None = None,
) -> Variant:
    """One variant written by hand, checked as a set entry would be.

    With an `instruction`, a model writes the variant and `template` is unused.
    """
    fields = {
        "id": id,
        "label": label,
        "description": description,
        "template": None if instruction else template,
        "intent": intent,
        "category": category,
        "transform": transform,
        "instruction": instruction,
    }
    try:
        entry = _Entry.model_validate(fields)
    except ValidationError as exc:
        raise VariantFileError(
            f"This variant is not valid: {_describe(exc, None, None)}"
        ) from exc
    return Variant(**entry.model_dump())


def with_variant_set(
    library: VariantLibrary, variants: Sequence[Variant], *, name: str
) -> VariantLibrary:
    """The library plus a set's variants that it lacks, in a category of their own.

    A set's copy of a built-in variant is the built-in one; a different
    variant under a built-in id is refused, since a share link or a cached
    answer would confuse the two.
    """
    builtin = {variant.id: variant for variant in library.variants}
    extra = []
    for variant in variants:
        known = builtin.get(variant.id)
        if known is None:
            extra.append(_in_category(variant, CUSTOM_CATEGORY))
        elif _definition(known) != _definition(variant):
            raise VariantFileError(
                f"Variant set {name!r}: variant {variant.id!r} differs from the "
                "built-in variant of that id. Give it an id of its own."
            )
    if not extra:
        return library
    category = Category(
        CUSTOM_CATEGORY, f"Custom: {name}", f"Variants written for the set {name!r}."
    )
    return VariantLibrary((*library.categories, category), (*library.variants, *extra))


class VariantSetStore:
    """Named variant sets saved as YAML files in one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(path.stem for path in self.folder.glob("*.yaml"))

    def save(self, name: str, variants: Sequence[Variant]) -> Path:
        """Write the set as NAME.yaml, replacing a set of that name."""
        path = self._path(name)
        if not variants:
            raise VariantFileError("The set is empty: add at least one variant.")
        if not path.exists() and len(self.names()) >= MAX_SAVED_SETS:
            raise VariantFileError(
                f"This server already holds {MAX_SAVED_SETS} variant sets; "
                "download yours instead, or overwrite one of the same name."
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        text = dump_variant_set(variants)
        _checked_text(text, f"{name}.yaml")  # never save what could not be read
        path.write_text(text, encoding="utf-8")
        return path

    def load(self, name: str) -> tuple[Variant, ...]:
        path = self._path(name)
        if not path.is_file():
            raise VariantFileError(
                f"No variant set named {name!r}. Saved sets: "
                f"{', '.join(self.names()) or 'none'}."
            )
        return load_variant_set(path.read_bytes(), source=path.name)

    def _path(self, name: str) -> Path:
        return self.folder / f"{check_set_name(name)}.yaml"


def select_variants(
    selector: str, *, folder: Path | None = None
) -> tuple[Variant, ...]:
    """Variants named by `all`, a category, ids, or a variant-set file.

    A selector ending in .yaml or .yml is a variant set's path, relative to
    `folder` (default: the working directory).
    """
    selector = selector.strip()
    if not selector.lower().endswith(_SET_SUFFIXES):
        return load_library().select(selector)
    path = (folder or Path.cwd()) / selector
    if not path.is_file():
        raise VariantFileError(
            f"No variant set at {str(path)!r}: give the path of a YAML file "
            "saved from the Variant sets page, or all, a category or ids."
        )
    size = path.stat().st_size
    if size > MAX_SET_BYTES:
        raise VariantFileError(
            f"Not a valid variant set: {path} is {size:,} bytes; variant sets "
            f"are capped at {MAX_SET_BYTES:,} bytes."
        )
    return load_variant_set(path.read_bytes(), source=str(path))


def variant_sets_dir(cache_dir: Path) -> Path:
    """Where the app saves variant sets: a folder of the cache directory."""
    return cache_dir / "variant_sets"


def check_set_name(name: str) -> str:
    """A set's name if it is safe as a file name, else VariantFileError."""
    if not _NAME.fullmatch(name):
        raise VariantFileError(
            f"Set name {name[:80]!r} is not allowed: use 1 to 60 letters, digits, "
            "hyphens or underscores, starting with a letter or digit."
        )
    return name


def _checked_text(text: str | bytes, source: str) -> str:
    size = len(text.encode("utf-8") if isinstance(text, str) else text)
    if size > MAX_SET_BYTES:
        raise VariantFileError(
            f"Not a valid variant set: {source} is {size:,} bytes; variant sets "
            f"are capped at {MAX_SET_BYTES:,} bytes."
        )
    if isinstance(text, str):
        return text
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise VariantFileError(
            f"Not a valid variant set: {source} is not UTF-8 text (byte {exc.start:,})."
        ) from exc


def _parse(text: str, source: str) -> tuple[yaml.Node | None, object]:
    """The YAML node tree (for line numbers) and the plain data it holds."""
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _refuse_aliases(node, source)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise VariantFileError(
            f"Not a valid variant set: {source}{where}: not valid YAML: {problem}"
        ) from exc
    finally:
        loader.dispose()
    return node, data


def _refuse_aliases(root: yaml.Node, source: str) -> None:
    """Refuse `*alias` references: a few lines of them can expand to millions."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            raise VariantFileError(
                f"Not a valid variant set: {source}, line "
                f"{node.start_mark.line + 1}: YAML anchors and aliases are not "
                "allowed; write each value out."
            )
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _describe(exc: ValidationError, node: yaml.Node | None, source: str | None) -> str:
    problems = []
    for error in exc.errors()[:5]:
        loc = error["loc"]
        where = f"{_field_name(loc)}: {_message(error['type'], str(error['msg']))}"
        if source is not None:
            line = _line_of(node, loc) if node is not None else 1
            where = f"{source}, line {line}: {where}"
        problems.append(where)
    return "; ".join(problems)


def _message(kind: str, message: str) -> str:
    if kind == "model_type":
        return "expected a mapping with the keys version and variants"
    if kind == "string_pattern_mismatch":
        return "use lowercase letters, digits and underscores, starting with a letter"
    return message.removeprefix("Value error, ")


def _field_name(loc: tuple[int | str, ...]) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else f".{part}"
    return name.lstrip(".") or "(top level)"


def _line_of(node: yaml.Node, loc: tuple[int | str, ...]) -> int:
    """The line of the deepest node along `loc` (1-based)."""
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if 0 <= part < len(node.value) else None
        if child is None:
            break
        node = child
    return int(node.start_mark.line) + 1


def _check_unique_ids(spec: _VariantSet, node: yaml.Node | None, source: str) -> None:
    seen: set[str] = set()
    for index, entry in enumerate(spec.variants):
        if entry.id in seen or entry.id == BASELINE_ID:
            line = _line_of(node, ("variants", index, "id")) if node else 1
            raise VariantFileError(
                f"Not a valid variant set: {source}, line {line}: "
                f"variants[{index}].id: {entry.id!r} is used twice or is reserved; "
                "give each variant a unique id."
            )
        seen.add(entry.id)


def _definition(variant: Variant) -> tuple[str, str, Transform | None, str | None]:
    return (variant.template, variant.intent, variant.transform, variant.instruction)


def _in_category(variant: Variant, category: str) -> Variant:
    fields = asdict(variant)
    fields["category"] = category
    return Variant(**fields)


def _entry(variant: Variant) -> dict[str, Any]:
    entry = asdict(variant)
    for key in ("transform", "instruction"):
        if entry[key] is None:
            del entry[key]
    if variant.is_rewrite:
        del entry["template"]
    return entry


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings (templates) as readable `|` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_str)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)
    label: str = Field(min_length=1, max_length=80)
    category: str = Field(default=CUSTOM_CATEGORY, max_length=60)
    description: str = Field(max_length=500)
    template: str = Field(max_length=MAX_TEMPLATE_CHARS)
    intent: Intent
    transform: Transform | None = None
    instruction: str | None = Field(default=None, max_length=MAX_TEMPLATE_CHARS)

    @model_validator(mode="before")
    @classmethod
    def _template_or_instruction(cls, data: object) -> object:
        return check_template_or_instruction(data)

    @field_validator("template")
    @classmethod
    def _one_placeholder(cls, value: str) -> str:
        if value.count(PLACEHOLDER) != 1:
            raise ValueError(f"template must contain {PLACEHOLDER} exactly once")
        return value


class _VariantSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    version: Literal[1] = 1
    variants: list[_Entry] = Field(max_length=MAX_SET_VARIANTS)


class _SafeLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The C safe loader where available: plain data only, no Python objects."""
