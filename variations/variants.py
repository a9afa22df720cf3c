"""The variant library: loading prompts/*.yaml and rendering a prompt through it.

A variant is a template with one `{prompt}` placeholder, optionally preceded by a
transform of the prompt's text (typos, capitals), or an instruction to a model
that rewrites the prompt (see `rewrites`). Files are validated at load time so
a typo in a library fails with its file and variant named.
"""

from __future__ import annotations

import hashlib
import random
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import (
    BadPromptError,
    ConfigurationError,
    UnknownVariantError,
    VariantFileError,
)
from .records import BASELINE_ID

PLACEHOLDER = "{prompt}"
MAX_PROMPT_CHARS = 8000
BUILTIN_DIR = Path(__file__).resolve().parent.parent / "prompts"

Transform = Literal["typos", "uppercase", "lowercase", "no_punctuation", "repeat"]
Intent = Literal["keep", "reframe"]


@dataclass(frozen=True)
class Variant:
    """One way of rewriting a prompt."""

    id: str
    label: str
    category: str
    description: str
    template: str
    intent: Intent
    transform: Transform | None = None
    instruction: str | None = None

    @property
    def is_rewrite(self) -> bool:
        """Whether a model writes this variant's text (from `instruction`)."""
        return self.instruction is not None

    def render(self, prompt: str) -> str:
        """The text sent to a model: the prompt, transformed, put in the template.

        The prompt is inserted literally: braces or template syntax of its own
        are left alone, because only the exact placeholder is replaced, once.
        A model-written variant has no text of its own until its rewrite is
        written: render it through `render_all` with the written texts.
        """
        if self.is_rewrite:
            raise ConfigurationError(
                f"Variant {self.id!r} is written by a model: write its rewrite "
                "first (variations.rewrites.write_rewrites)."
            )
        text = _TRANSFORMS[self.transform](prompt) if self.transform else prompt
        head, _, tail = self.template.partition(PLACEHOLDER)
        return head + text + tail


BASELINE = Variant(
    id=BASELINE_ID,
    label="Original",
    category="baseline",
    description="The prompt exactly as typed.",
    template=PLACEHOLDER,
    intent="keep",
)


def check_prompt(prompt: str) -> str:
    """Return the prompt if a model can be sent it, else raise BadPromptError."""
    if not prompt.strip():
        raise BadPromptError(
            "The prompt is empty: type a question or instruction to send."
        )
    if len(prompt) > MAX_PROMPT_CHARS:
        raise BadPromptError(
            f"The prompt has {len(prompt):,} characters; the limit is "
            f"{MAX_PROMPT_CHARS:,}. Shorten it and try again."
        )
    return prompt


@dataclass(frozen=True)
class Category:
    id: str
    label: str
    description: str


@dataclass(frozen=True)
class VariantLibrary:
    """All variants from a folder of YAML files, in file then listing order."""

    categories: tuple[Category, ...]
    variants: tuple[Variant, ...]

    def get(self, variant_id: str) -> Variant:
        for variant in self.variants:
            if variant.id == variant_id:
                return variant
        raise UnknownVariantError(
            f"Unknown variant {variant_id!r}. Known ids: "
            f"{', '.join(v.id for v in self.variants)}. "
            "List them with `variations variants`."
        )

    def in_category(self, category: str) -> tuple[Variant, ...]:
        return tuple(v for v in self.variants if v.category == category)

    def select(self, selector: str) -> tuple[Variant, ...]:
        """Variants named by `all`, a category id, or comma-separated ids.

        `all` leaves out the model-written variants: each costs a call to a
        rewriting model first, so they are asked for by category or id.
        """
        selector = selector.strip()
        if selector == "all":
            return tuple(v for v in self.variants if not v.is_rewrite)
        if selector in {c.id for c in self.categories}:
            return self.in_category(selector)
        ids = [part.strip() for part in selector.split(",") if part.strip()]
        if not ids:
            raise UnknownVariantError(
                "No variants selected: give `all`, a category "
                f"({', '.join(c.id for c in self.categories)}) or variant ids."
            )
        return tuple(self.get(variant_id) for variant_id in dict.fromkeys(ids))

    def check_category(self, category: str) -> str:
        if category not in {c.id for c in self.categories}:
            raise UnknownVariantError(
                f"Unknown category {category!r}. Known categories: "
                f"{', '.join(c.id for c in self.categories)}."
            )
        return category


def load_library(folder: Path | None = None) -> VariantLibrary:
    """Load and validate every `*.yaml` file of a folder (default: prompts/)."""
    folder = (folder or BUILTIN_DIR).resolve()
    return _load_library_cached(folder)


@cache
def _load_library_cached(folder: Path) -> VariantLibrary:
    paths = sorted(folder.glob("*.yaml"))
    if not paths:
        raise VariantFileError(f"No variant files (*.yaml) found in {folder}.")
    categories: list[Category] = []
    variants: list[Variant] = []
    seen: dict[str, Path] = {}
    for path in paths:
        category, file_variants = load_variant_file(path)
        categories.append(category)
        for variant in file_variants:
            if variant.id in seen or variant.id == BASELINE_ID:
                first = seen.get(variant.id, "the built-in baseline")
                raise VariantFileError(
                    f"{path}: variant id {variant.id!r} is already defined in "
                    f"{first}. Give each variant a unique id."
                )
            seen[variant.id] = path
            variants.append(variant)
    return VariantLibrary(tuple(categories), tuple(variants))


def load_variant_file(path: Path) -> tuple[Category, list[Variant]]:
    """Parse one category file, naming the file and the variant on any error."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader)
    except yaml.YAMLError as exc:
        raise VariantFileError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise VariantFileError(
            f"{path}: expected a mapping with keys category, label, "
            "description and variants."
        )
    raw_variants = data.get("variants")
    for index, raw in enumerate(raw_variants or []):
        _check_variant_entry(path, index, raw)
    try:
        spec = _CategoryFile.model_validate(data)
    except ValidationError as exc:
        raise VariantFileError(f"{path}: {_describe(exc, data)}") from exc
    category = Category(spec.category, spec.label, spec.description)
    return category, [
        Variant(category=spec.category, **v.model_dump()) for v in spec.variants
    ]


class _VariantSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    label: str
    description: str
    template: str
    intent: Intent
    transform: Transform | None = None
    instruction: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _template_or_instruction(cls, data: object) -> object:
        return check_template_or_instruction(data)

    @field_validator("id")
    @classmethod
    def _id_is_snake_case(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", value):
            raise ValueError(
                f"id {value!r} must be lowercase letters, digits and underscores"
            )
        return value

    @field_validator("template")
    @classmethod
    def _one_placeholder(cls, value: str) -> str:
        count = value.count(PLACEHOLDER)
        if count != 1:
            raise ValueError(
                f"template must contain {PLACEHOLDER} exactly once (found {count})"
            )
        return value


class _CategoryFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    category: str
    label: str
    description: str
    variants: list[_VariantSpec]


def check_template_or_instruction(data: object) -> object:
    """A variant has a template or an instruction to a rewriting model, not both.

    A model-written variant gets the bare placeholder as its template; one with
    neither is left for the field checks to report as missing its template.
    """
    if not isinstance(data, dict) or data.get("instruction") is None:
        return data
    if data.get("template") is not None or data.get("transform") is not None:
        raise ValueError(
            "a variant with an instruction is written by a model: drop its "
            "template and transform"
        )
    if not isinstance(data["instruction"], str) or not data["instruction"].strip():
        raise ValueError("instruction must be a non-empty text")
    return {**data, "template": PLACEHOLDER}


def _check_variant_entry(path: Path, index: int, raw: object) -> None:
    """Validate one entry alone so the error names its id."""
    try:
        _VariantSpec.model_validate(raw)
    except ValidationError as exc:
        name = raw.get("id") if isinstance(raw, dict) else None
        where = f"variant {name!r}" if name else f"variant #{index + 1}"
        raise VariantFileError(f"{path}: {where}: {_describe(exc, raw)}") from exc


def _describe(exc: ValidationError, data: object) -> str:
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown key {field!r}")
        elif error["type"] == "missing":
            problems.append(f"missing field {field!r}")
        else:
            problems.append(f"{field}: {error['msg']}")
    return "; ".join(problems)


class _SafeLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The C safe loader where available: plain data only, no Python objects."""


def _typos(text: str) -> str:
    # Seeded by the text so the same prompt always gets the same typos: the
    # variant's text, and so its cache key, must not change between runs.
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    chars = list(text)
    letters = [i for i, ch in enumerate(chars) if ch.isalpha()]
    for i in rng.sample(letters, k=max(1, len(letters) // 12) if letters else 0):
        if i + 1 < len(chars) and chars[i + 1].isalpha():
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        else:
            chars[i] = ""
    return "".join(chars)


def _no_punctuation(text: str) -> str:
    return text.translate(str.maketrans("", "", string.punctuation))


_TRANSFORMS: dict[str, Callable[[str], str]] = {
    "typos": _typos,
    "uppercase": str.upper,
    "lowercase": str.lower,
    "no_punctuation": _no_punctuation,
    "repeat": lambda text: f"{text} {text}",
}


def render_all(
    prompt: str,
    variants: Iterable[Variant],
    *,
    include_baseline: bool = True,
    written: Mapping[str, str] | None = None,
) -> list[tuple[Variant, str]]:
    """Each variant with the text it would send, baseline first.

    `written` holds the texts of model-written variants by variant id; one
    whose text is not there is left out (its rewrite failed or is not written).
    """
    check_prompt(prompt)
    written = written or {}
    chosen: Sequence[Variant] = [v for v in variants if v.id != BASELINE_ID]
    if include_baseline:
        chosen = [BASELINE, *chosen]
    return [
        (variant, written[variant.id] if variant.is_rewrite else variant.render(prompt))
        for variant in chosen
        if not variant.is_rewrite or variant.id in written
    ]
