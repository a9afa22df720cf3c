"""The explorer's form, checked, and shared as a URL query.

A SweepForm is what a visitor chose; `make_form` checks a form as typed, and a
share link carries one as a URL query: the prompt, the variant ids, the models
and the sampling settings, nothing else (no API base, no key). Everything read
from a link is checked against what this server offers, and the whole query is
capped in length.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import BadPromptError, ConfigurationError, ShareLinkError
from .records import GenerationParams
from .rewrites import DEFAULT_REWRITE_MODEL, Rewrite
from .settings import (
    MAX_SAMPLES,
    MAX_TEMPERATURE,
    MAX_TOKENS_LIMIT,
    SEED,
    ServerSettings,
)
from .sweep import SweepSpec
from .variants import VariantLibrary, check_prompt

# Browsers and proxies handle URLs of a few thousand characters reliably.
MAX_QUERY_CHARS = 4000
MAX_SHARED_PROMPT_CHARS = 2000
MAX_SHARED_MODELS = 8
MAX_SHARED_VARIANTS = 60
# Query keys Streamlit itself reads; a link may carry them.
_STREAMLIT_KEYS = frozenset({"embed", "embed_options"})


class SweepForm(BaseModel):
    """Everything a visitor chose in the form: what a share link restores."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: str = Field(min_length=1, max_length=MAX_SHARED_PROMPT_CHARS)
    variants: tuple[str, ...] = Field(min_length=1, max_length=MAX_SHARED_VARIANTS)
    models: tuple[str, ...] = Field(min_length=1, max_length=MAX_SHARED_MODELS)
    samples: int = Field(default=1, ge=1, le=MAX_SAMPLES)
    temperature: float = Field(default=0.7, ge=0.0, le=MAX_TEMPERATURE)
    max_tokens: int = Field(default=64, ge=1, le=MAX_TOKENS_LIMIT)
    rewriter: str = Field(default=DEFAULT_REWRITE_MODEL, min_length=1, max_length=200)


SHARE_KEYS = tuple(SweepForm.model_fields)


def make_form(
    prompt: str,
    variants: Sequence[str],
    models: Sequence[str],
    *,
    samples: int,
    temperature: float,
    max_tokens: int,
    settings: ServerSettings,
    rewriter: str = DEFAULT_REWRITE_MODEL,
) -> SweepForm:
    """The form as typed, or an error that says what to change."""
    check_prompt(prompt)
    if len(prompt) > MAX_SHARED_PROMPT_CHARS:
        raise BadPromptError(
            f"The prompt has {len(prompt):,} characters; the explorer takes up to "
            f"{MAX_SHARED_PROMPT_CHARS:,}. Shorten it and try again."
        )
    if not variants:
        raise ConfigurationError(
            "No variant is selected: pick at least one to compare with the "
            "original prompt."
        )
    _check_models(models, settings)
    if rewriter not in settings.models:
        raise ConfigurationError(
            f"This server does not offer {rewriter} to write rewrites; it offers "
            f"{', '.join(settings.models)}."
        )
    _check_numbers(samples, temperature, max_tokens)
    cells = (len(variants) + 1) * len(models) * samples
    if cells > settings.max_cells:
        raise ConfigurationError(
            f"This sweep would send {cells:,} requests; this server allows "
            f"{settings.max_cells:,} per sweep. Pick fewer variants, models or "
            "samples."
        )
    return SweepForm(
        prompt=prompt,
        variants=tuple(dict.fromkeys(variants)),
        models=tuple(dict.fromkeys(models)),
        samples=samples,
        temperature=temperature,
        max_tokens=max_tokens,
        rewriter=rewriter,
    )


def encode_share(form: SweepForm) -> dict[str, str]:
    """The form as query parameters (for st.query_params).

    The rewriting model is named only when it is not the default one.
    """
    query = {
        "prompt": form.prompt,
        "variants": ",".join(form.variants),
        "models": ",".join(form.models),
        "samples": str(form.samples),
        "temperature": f"{form.temperature:g}",
        "max_tokens": str(form.max_tokens),
    }
    if form.rewriter != DEFAULT_REWRITE_MODEL:
        query["rewriter"] = form.rewriter
    length = len(urlencode(query))
    if length > MAX_QUERY_CHARS:
        raise ShareLinkError(
            f"This sweep makes a link of {length:,} characters; links are capped "
            f"at {MAX_QUERY_CHARS:,}. Shorten the prompt to share it."
        )
    return query


def is_share_query(query: Mapping[str, str]) -> bool:
    """Whether a URL query carries a share link at all."""
    return any(key in query for key in SHARE_KEYS)


def decode_share(
    query: Mapping[str, str],
    *,
    known_variants: Collection[str],
    allowed_models: Collection[str],
) -> SweepForm:
    """Read a share link, or raise ShareLinkError saying what is wrong with it."""
    _check_shape(query)
    try:
        form = SweepForm.model_validate(
            {
                key: _split(query[key]) if key in {"variants", "models"} else query[key]
                for key in SHARE_KEYS
                if key in query
            }
        )
    except ValidationError as exc:
        raise ShareLinkError(
            f"This share link is not valid: {_describe(exc)}."
        ) from exc

    _check_known("variants", form.variants, known_variants)
    _check_known("models", (*form.models, form.rewriter), allowed_models)
    return form


def sweep_spec(
    form: SweepForm,
    library: VariantLibrary,
    *,
    api_base: str | None = None,
    rewrites: Sequence[Rewrite] = (),
) -> SweepSpec:
    """The sweep a form describes; the API base comes from the server, not a link.

    `rewrites` are the written texts of its model-written variants; one not
    among them is left out of the sweep.
    """
    return SweepSpec(
        prompt=form.prompt,
        variants=tuple(library.get(variant_id) for variant_id in form.variants),
        models=form.models,
        samples=form.samples,
        params=GenerationParams(
            temperature=form.temperature,
            max_tokens=form.max_tokens,
            seed=SEED,
            api_base=api_base,
        ),
        rewrites=tuple(rewrites),
    )


def _check_models(models: Sequence[str], settings: ServerSettings) -> None:
    if not models:
        raise ConfigurationError("No model is selected: pick at least one model.")
    unknown = [model for model in models if model not in settings.models]
    if unknown:
        raise ConfigurationError(
            f"This server does not offer {', '.join(unknown)}; it offers "
            f"{', '.join(settings.models)}."
        )
    if len(models) > MAX_SHARED_MODELS:
        raise ConfigurationError(
            f"{len(models)} models are selected; pick at most {MAX_SHARED_MODELS}."
        )


def _check_numbers(samples: int, temperature: float, max_tokens: int) -> None:
    if not 1 <= samples <= MAX_SAMPLES:
        raise ConfigurationError(
            f"Samples per variant must be between 1 and {MAX_SAMPLES}, got {samples}."
        )
    if not 0.0 <= temperature <= MAX_TEMPERATURE:
        raise ConfigurationError(
            f"Temperature must be between 0 and {MAX_TEMPERATURE:g}, got "
            f"{temperature:g}."
        )
    if not 1 <= max_tokens <= MAX_TOKENS_LIMIT:
        raise ConfigurationError(
            f"Max tokens must be between 1 and {MAX_TOKENS_LIMIT}, got {max_tokens}."
        )


def _check_shape(query: Mapping[str, str]) -> None:
    unknown = sorted(set(query) - set(SHARE_KEYS) - _STREAMLIT_KEYS)
    if unknown:
        shown = ", ".join(repr(key[:40]) for key in unknown[:5])
        raise ShareLinkError(
            f"This share link has settings the explorer does not take: {shown}. "
            f"A link may hold only {', '.join(SHARE_KEYS)}."
        )
    length = sum(len(key) + len(str(value)) for key, value in query.items())
    if length > MAX_QUERY_CHARS:
        raise ShareLinkError(
            f"This share link is {length:,} characters long; the limit is "
            f"{MAX_QUERY_CHARS:,}."
        )
    missing = [key for key in ("prompt", "variants", "models") if key not in query]
    if missing:
        raise ShareLinkError(
            f"This share link is incomplete: it lacks {', '.join(missing)}."
        )


def _check_known(field: str, names: tuple[str, ...], known: Collection[str]) -> None:
    unknown = [name for name in names if name not in known]
    if unknown:
        shown = ", ".join(repr(name[:60]) for name in unknown[:5])
        where = "this server's models" if field == "models" else "the variant library"
        raise ShareLinkError(
            f"This share link names {field} that are not in {where}: {shown}. "
            f"Available: {', '.join(sorted(known))}."
        )


def _split(value: str) -> tuple[str, ...]:
    return tuple(
        dict.fromkeys(part.strip() for part in value.split(",") if part.strip())
    )


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "link"
        problems.append(f"{field}: {error['msg']}")
    return "; ".join(problems)
