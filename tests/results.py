"""Finished sweeps built without any model, for tests of what draws them."""

from __future__ import annotations

from collections.abc import Callable

from variations.embeddings import Embedder
from variations.records import ChatRequest, Completion
from variations.rewrites import Rewrite
from variations.sweep import SweepResult, SweepSpec, build_requests, score_sweep
from variations.variants import Variant

from .conftest import FakeEncoder

POLITE = Variant("polite", "Polite", "tone", "Adds please.", "Please: {prompt}", "keep")
HOSTILE = Variant("hostile", "Hostile", "tone", "Rude.", "Ugh. {prompt} Hurry.", "keep")
CHILD = Variant(
    "child", "Child", "persona", "Asks as a child.", "im 8. {prompt}", "keep"
)

ANSWERS = {
    "original": "Coffee is fine in moderation for most adults.",
    "polite": "Coffee is fine in moderation for most healthy adults.",
    "hostile": "No. Stop asking and drink water instead, obviously.",
    "child": "Coffee is a grown up drink, kids should drink milk.",
    "angry": "Zebras juggle violins quietly beneath purple glaciers tonight.",
}
ANGRY = Variant(
    "angry",
    "Angry",
    "rewrite",
    "A model rewrites it angrily.",
    "{prompt}",
    "keep",
    instruction="Rewrite it angrily.",
)


def make_result(
    *,
    variants: tuple[Variant, ...] = (POLITE, HOSTILE, CHILD),
    models: tuple[str, ...] = ("model-a", "model-b"),
    samples: int = 1,
    answer: Callable[[ChatRequest], str] | None = None,
    fail: Callable[[ChatRequest], str | None] | None = None,
    rewrites: tuple[Rewrite, ...] = (),
) -> SweepResult:
    """A scored sweep; `answer` gives each cell's text, `fail` its error if any."""
    spec = SweepSpec(
        prompt="Is coffee healthy?",
        variants=variants,
        models=models,
        samples=samples,
        rewrites=rewrites,
    )
    answer = answer or _default_answer
    completions = []
    for request in build_requests(spec):
        error = fail(request) if fail else None
        text = "" if error else answer(request)
        completions.append(Completion(request, text, 0.1, error=error))
    embedder = Embedder(encoder=FakeEncoder(), use_cache=False)
    return score_sweep(spec, completions, embedder)


def _default_answer(request: ChatRequest) -> str:
    text = ANSWERS[request.variant_id]
    if request.sample:
        text += f" Sample {request.sample}."
    return text
