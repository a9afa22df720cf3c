"""A chosen set of variants saved as YAML, complete enough to read back alone.

Each entry carries its full definition (template included), so a saved set
still says what was sent after the built-in library changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from .errors import VariantFileError
from .variants import PLACEHOLDER, Intent, Transform, Variant

_HEADER = "# A variant set saved from the Prompt Variations explorer.\n"


def dump_variant_set(variants: Iterable[Variant]) -> str:
    """The variants as a YAML document: `variants:` with one mapping each."""
    entries = [_entry(variant) for variant in variants]
    body: str = yaml.dump(
        {"variants": entries},
        Dumper=_BlockDumper,
        sort_keys=False,
        allow_unicode=True,
        width=88,
    )
    return _HEADER + body


def load_variant_set(text: str) -> tuple[Variant, ...]:
    """Read a saved set back, refusing unknown keys and malformed templates."""
    try:
        spec = _VariantSet.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        raise VariantFileError(f"Not a valid variant set: {exc}") from exc
    return tuple(Variant(**entry.model_dump()) for entry in spec.variants)


def _entry(variant: Variant) -> dict[str, Any]:
    entry = asdict(variant)
    if entry["transform"] is None:
        del entry["transform"]
    return entry


class _BlockDumper(yaml.SafeDumper):  # type: ignore[misc]
    """Writes multi-line strings (templates) as readable `|` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _represent_str)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    label: str
    category: str
    description: str
    template: str
    intent: Intent
    transform: Transform | None = None

    @field_validator("template")
    @classmethod
    def _one_placeholder(cls, value: str) -> str:
        if value.count(PLACEHOLDER) != 1:
            raise ValueError(f"template must contain {PLACEHOLDER} exactly once")
        return value


class _VariantSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    variants: list[_Entry]
