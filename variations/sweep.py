"""One sweep from end to end: variants x models x samples, to scored answers.

`stream_sweep` yields completions as they arrive (for progress and partial
charts); `score_sweep` embeds the answers and measures divergence;
`run_sweep` does both for callers that only want the result.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .cache import ReplyStore
from .embeddings import EMBEDDING_DIM, Embedder, Vectors
from .errors import ConfigurationError
from .fanout import FanOutLimits, fan_out, pending_requests
from .metrics import Shift, answer_divergences, noise_floors, variant_shifts
from .records import ChatRequest, Completion, CompletionFn, GenerationParams
from .rewrites import Rewrite, written_texts
from .variants import Variant, check_prompt, render_all

logger = logging.getLogger(__name__)

MAX_SAMPLES = 50


@dataclass(frozen=True)
class SweepSpec:
    """What to send: one prompt, its variants, the models, samples per cell.

    `rewrites` holds the written texts of the model-written variants; one
    whose rewrite failed (or is missing) is left out of the requests.
    """

    prompt: str
    variants: tuple[Variant, ...]
    models: tuple[str, ...]
    samples: int = 1
    params: GenerationParams = field(default_factory=GenerationParams)
    rewrites: tuple[Rewrite, ...] = ()

    def __post_init__(self) -> None:
        check_prompt(self.prompt)
        if not self.models:
            raise ConfigurationError("No model given: name at least one model.")
        if not 1 <= self.samples <= MAX_SAMPLES:
            raise ConfigurationError(
                f"samples must be between 1 and {MAX_SAMPLES}, got {self.samples}."
            )
        if not 0.0 <= self.params.temperature <= 2.0:
            raise ConfigurationError(
                f"temperature must be between 0 and 2, got {self.params.temperature}."
            )
        if not 1 <= self.params.max_tokens <= 32_000:
            raise ConfigurationError(
                f"max tokens must be between 1 and 32000, got {self.params.max_tokens}."
            )


def build_requests(spec: SweepSpec) -> list[ChatRequest]:
    """Every cell of the sweep, baseline first, in variant, model, sample order."""
    return [
        ChatRequest(
            model=model,
            variant_id=variant.id,
            category=variant.category,
            prompt=text,
            sample=sample,
            params=spec.params,
        )
        for variant, text in variant_texts(spec)
        for model in spec.models
        for sample in range(spec.samples)
    ]


def variant_texts(spec: SweepSpec) -> list[tuple[Variant, str]]:
    """Each variant the sweep sends with its text, baseline first."""
    return render_all(spec.prompt, spec.variants, written=written_texts(spec.rewrites))


def stream_sweep(
    spec: SweepSpec,
    complete: CompletionFn,
    *,
    cache: ReplyStore | None = None,
    limits: FanOutLimits | None = None,
) -> AsyncIterator[Completion]:
    """The sweep's completions as they finish (cached ones first)."""
    return fan_out(build_requests(spec), complete, cache=cache, limits=limits)


@dataclass
class SweepResult:
    """A finished sweep: its answers in request order, embedded and measured."""

    spec: SweepSpec
    completions: list[Completion]
    vectors: Vectors

    @cached_property
    def divergences(self) -> list[float | None]:
        return answer_divergences(self.completions, self.vectors)

    @cached_property
    def shifts(self) -> list[Shift]:
        return variant_shifts(self.completions, self.vectors)

    @cached_property
    def noise_floors(self) -> dict[str, float]:
        return (
            noise_floors(self.completions, self.vectors)
            if self.spec.samples > 1
            else {}
        )

    @property
    def failures(self) -> list[Completion]:
        return [completion for completion in self.completions if not completion.ok]

    @property
    def drifted(self) -> set[str]:
        """Ids of model-written variants that drifted from the prompt's meaning."""
        return {rewrite.variant_id for rewrite in self.spec.rewrites if rewrite.drifted}

    def rows(self) -> list[dict[str, Any]]:
        """One flat record per completion, for tables and exports."""
        labels = {variant.id: variant for variant in self.spec.variants}
        rewrites = {rewrite.variant_id: rewrite for rewrite in self.spec.rewrites}
        return [
            {
                **_row(
                    completion, divergence, labels.get(completion.request.variant_id)
                ),
                **_rewrite_columns(rewrites.get(completion.request.variant_id)),
            }
            for completion, divergence in zip(
                self.completions, self.divergences, strict=True
            )
        ]


def score_sweep(
    spec: SweepSpec, completions: Sequence[Completion], embedder: Embedder
) -> SweepResult:
    """Embed every successful answer and return the measured sweep."""
    order = {request: index for index, request in enumerate(build_requests(spec))}
    ordered = sorted(completions, key=lambda c: order.get(c.request, len(order)))
    vectors = np.zeros((len(ordered), EMBEDDING_DIM), dtype=np.float32)
    ok_rows = [index for index, completion in enumerate(ordered) if completion.ok]
    if ok_rows:
        vectors[ok_rows] = embedder.embed([ordered[row].text for row in ok_rows])
    return SweepResult(spec=spec, completions=ordered, vectors=vectors)


async def run_sweep(
    spec: SweepSpec,
    complete: CompletionFn,
    embedder: Embedder,
    *,
    cache: ReplyStore | None = None,
    limits: FanOutLimits | None = None,
    on_completion: Callable[[Completion], None] | None = None,
) -> SweepResult:
    """Send the whole sweep and return it scored.

    When anything must be sent, the embedding model starts loading at once, so
    its load overlaps the wait for the models' answers.
    """
    if pending_requests(build_requests(spec), cache):
        embedder.preload()
    completions = []
    async for completion in stream_sweep(spec, complete, cache=cache, limits=limits):
        completions.append(completion)
        if on_completion is not None:
            on_completion(completion)
    return score_sweep(spec, completions, embedder)


def _rewrite_columns(rewrite: Rewrite | None) -> dict[str, Any]:
    """Who wrote a model-written variant and how well it kept the meaning."""
    if rewrite is None:
        return {"rewrite_model": None, "meaning_similarity": None, "drifted": False}
    return {
        "rewrite_model": rewrite.model,
        "meaning_similarity": rewrite.similarity,
        "drifted": rewrite.drifted,
    }


def _row(
    completion: Completion, divergence: float | None, variant: Variant | None
) -> dict[str, Any]:
    request = completion.request
    return {
        "model": request.model,
        "variant": request.variant_id,
        "variant_label": variant.label if variant else "Original",
        "category": request.category,
        "intent": variant.intent if variant else "keep",
        "sample": request.sample,
        "prompt": request.prompt,
        "text": completion.text,
        "divergence": None
        if divergence is None or math.isnan(divergence)
        else divergence,
        "latency_s": round(completion.latency_s, 4),
        "cache_hit": completion.cache_hit,
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "cost_usd": completion.cost_usd,
        "temperature": request.params.temperature,
        "max_tokens": request.params.max_tokens,
        "seed": request.sample_seed,
        "error": completion.error,
    }
