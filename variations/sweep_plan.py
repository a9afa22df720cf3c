"""A sweep plan: many prompts x a variant set x models x samples, from YAML.

A plan file is data: it is parsed into models that refuse unknown keys, so a
typo fails at load time with the file and the field named. A plan expands into
one SweepSpec per prompt and model, because each model may carry its own
generation parameters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigurationError
from .records import GenerationParams
from .rewrites import (
    DEFAULT_REWRITE_MODEL,
    DEFAULT_THRESHOLD,
    Rewrite,
    rewrite_variants,
)
from .sweep import MAX_SAMPLES, SweepSpec
from .variant_sets import select_variants
from .variants import Variant, check_prompt, load_library

SCHEMA_VERSION = 1
MAX_PLAN_BYTES = 1_000_000
POOLED_PROMPT_ID = "all"
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ModelEntry(BaseModel):
    """One model and the parameters it is called with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    max_tokens: int = Field(default=128, ge=1, le=32_000)
    api_base: str | None = None

    @field_validator("api_base")
    @classmethod
    def _no_credentials(cls, value: str | None) -> str | None:
        # Plans are saved into every run's manifest, so they must hold no secret.
        if value is not None and urlsplit(value).password is not None:
            raise ValueError(
                "api_base must not carry a password; put the key in the"
                " provider's environment variable instead"
            )
        return value


class PromptEntry(BaseModel):
    """One prompt of the plan, with the id its rows and tables carry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    text: str

    @field_validator("id")
    @classmethod
    def _plain_id(cls, value: str) -> str:
        if not _ID_PATTERN.match(value) or value == POOLED_PROMPT_ID:
            raise ValueError(
                f"prompt id {value!r} must be 1-64 letters, digits, '_', '.' or"
                f" '-' and not {POOLED_PROMPT_ID!r} (kept for pooled rows)"
            )
        return value

    @field_validator("text")
    @classmethod
    def _sendable(cls, value: str) -> str:
        return check_prompt(value)


class SweepPlan(BaseModel):
    """A whole sweep as a researcher writes it down."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = SCHEMA_VERSION
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    prompts: list[PromptEntry] = Field(min_length=1, max_length=1000)
    variants: str | list[str] = "all"
    models: list[ModelEntry] = Field(min_length=1, max_length=50)
    samples: int = Field(default=3, ge=1, le=MAX_SAMPLES)
    seed: int = Field(default=0, ge=0, le=2**31)
    rewrite_model: str = Field(default=DEFAULT_REWRITE_MODEL, min_length=1)
    meaning_threshold: float = Field(default=DEFAULT_THRESHOLD, ge=-1.0, le=1.0)
    permutations: int = Field(default=1000, ge=1, le=100_000)
    bootstraps: int = Field(default=1000, ge=1, le=100_000)
    alpha: float = Field(default=0.05, gt=0.0, lt=1.0)

    @field_validator("version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(
                f"version {value} is not supported; this release reads version"
                f" {SCHEMA_VERSION}"
            )
        return value

    @field_validator("prompts", mode="before")
    @classmethod
    def _number_plain_prompts(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [
            {"id": f"p{index}", "text": entry} if isinstance(entry, str) else entry
            for index, entry in enumerate(value, start=1)
        ]

    @field_validator("prompts")
    @classmethod
    def _distinct_prompts(cls, value: list[PromptEntry]) -> list[PromptEntry]:
        for field in ("id", "text"):
            seen = [getattr(entry, field) for entry in value]
            repeated = sorted({item for item in seen if seen.count(item) > 1})
            if repeated:
                raise ValueError(f"prompt {field}s must be distinct, got {repeated}")
        return value

    @field_validator("models", mode="before")
    @classmethod
    def _name_plain_models(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [{"name": m} if isinstance(m, str) else m for m in value]

    @field_validator("models")
    @classmethod
    def _distinct_models(cls, value: list[ModelEntry]) -> list[ModelEntry]:
        names = [entry.name for entry in value]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"model names must be distinct, got {repeated}")
        return value


@dataclass(frozen=True)
class ResolvedPlan:
    """A plan with its variants looked up: everything needed to send it."""

    plan: SweepPlan
    variants: tuple[Variant, ...]
    source: Path | None = None

    def specs(self, rewrites: Sequence[Rewrite] = ()) -> list[tuple[str, SweepSpec]]:
        """One (prompt id, spec) per prompt and model, in plan order.

        `rewrites` are the written model-written variants of every prompt
        (see `rewrite_jobs`); without them those variants are left out.
        """
        by_prompt: dict[str, list[Rewrite]] = {}
        for rewrite in rewrites:
            by_prompt.setdefault(rewrite.prompt, []).append(rewrite)
        return [
            (
                prompt.id,
                _spec(
                    prompt.text,
                    self.variants,
                    model,
                    self.plan,
                    tuple(by_prompt.get(prompt.text, ())),
                ),
            )
            for prompt in self.plan.prompts
            for model in self.plan.models
        ]

    def rewrite_jobs(self) -> list[tuple[str, Variant]]:
        """Every (prompt, model-written variant) the plan must have written."""
        return [
            (prompt.text, variant)
            for prompt in self.plan.prompts
            for variant in rewrite_variants(self.variants)
        ]

    @property
    def rewrite_api_base(self) -> str | None:
        """The rewriting model's API base: its own, when the plan lists it."""
        entry = next(
            (m for m in self.plan.models if m.name == self.plan.rewrite_model), None
        )
        return entry.api_base if entry else None

    def cell_count(self) -> int:
        """The answers the plan asks for, model-written variants included."""
        plan = self.plan
        variants = len(self.variants) + 1
        return len(plan.prompts) * len(plan.models) * variants * plan.samples

    def as_data(self) -> dict[str, Any]:
        """The plan as plain data, variants resolved, for a run's manifest."""
        data = self.plan.model_dump(mode="json")
        data["variant_ids"] = [variant.id for variant in self.variants]
        return data


def load_plan(path: Path) -> ResolvedPlan:
    """Read, check and resolve a plan file; raise ConfigurationError if bad."""
    text = _read_capped(path, what="sweep plan")
    return parse_plan(text, source=path)


def parse_plan(text: str, *, source: Path | None = None) -> ResolvedPlan:
    """Check and resolve a plan given as YAML text."""
    where = str(source) if source else "sweep plan"
    try:
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{where} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(
            f"{where} must be a YAML mapping with name, prompts, variants and"
            f" models; got {type(data).__name__}."
        )
    try:
        plan = SweepPlan.model_validate(data)
    except ValidationError as exc:
        raise ConfigurationError(f"{where}: {_first_problem(exc)}") from exc
    folder = source.parent if source else Path.cwd()
    return ResolvedPlan(plan, _resolve_variants(plan.variants, folder), source)


def _spec(
    prompt: str,
    variants: tuple[Variant, ...],
    model: ModelEntry,
    plan: SweepPlan,
    rewrites: tuple[Rewrite, ...],
) -> SweepSpec:
    params = GenerationParams(
        temperature=model.temperature,
        max_tokens=model.max_tokens,
        seed=plan.seed,
        api_base=model.api_base,
    )
    return SweepSpec(
        prompt=prompt,
        variants=variants,
        models=(model.name,),
        samples=plan.samples,
        params=params,
        rewrites=rewrites,
    )


def _resolve_variants(selector: str | list[str], folder: Path) -> tuple[Variant, ...]:
    if isinstance(selector, list):
        return load_library().select(",".join(selector))
    return select_variants(selector, folder=folder)


def _read_capped(path: Path, *, what: str) -> str:
    if not path.is_file():
        raise ConfigurationError(f"No {what} at {str(path)!r}: give a YAML file.")
    size = path.stat().st_size
    if size > MAX_PLAN_BYTES:
        raise ConfigurationError(
            f"{what} {str(path)!r} has {size:,} bytes; the limit is"
            f" {MAX_PLAN_BYTES:,}. Split it into smaller files."
        )
    return path.read_text(encoding="utf-8")


def _first_problem(exc: ValidationError) -> str:
    """The most telling validation error as 'field path: message', one line.

    A misspelt key also leaves its real field missing; the typo is the news.
    """
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    error = errors[0]
    where = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field; check its spelling"
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more)" if more else ""
    return f"field {where}: {message}{suffix}"


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
