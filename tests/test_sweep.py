from __future__ import annotations

import pytest

from variations.cache import CompletionCache
from variations.errors import BadPromptError, ConfigurationError
from variations.records import BASELINE_ID, GenerationParams
from variations.sweep import SweepSpec, build_requests, run_sweep
from variations.variants import Variant

from .conftest import FakeCompletion

POLITE = Variant("polite", "Polite", "tone", "Adds please.", "Please: {prompt}", "keep")
SHOUT = Variant(
    "shout", "Shout", "perturbation", "Capitals.", "{prompt}!", "keep", "uppercase"
)


def spec(**overrides: object) -> SweepSpec:
    values: dict[str, object] = {
        "prompt": "Is coffee healthy?",
        "variants": (POLITE, SHOUT),
        "models": ("a", "b"),
        "samples": 2,
    }
    values.update(overrides)
    return SweepSpec(**values)  # type: ignore[arg-type]


def test_requests_cover_baseline_variants_models_and_samples() -> None:
    requests = build_requests(spec())

    assert len(requests) == 3 * 2 * 2
    assert requests[0].variant_id == BASELINE_ID
    assert requests[0].prompt == "Is coffee healthy?"
    assert {r.prompt for r in requests if r.variant_id == "shout"} == {
        "IS COFFEE HEALTHY?!"
    }
    assert {r.sample for r in requests} == {0, 1}


async def test_run_sweep_scores_every_answer(fake_embedder, tmp_path) -> None:  # type: ignore[no-untyped-def]
    texts = {
        BASELINE_ID: "coffee is fine",
        "polite": "coffee is fine",
        "shout": "NO WAY",
    }
    complete = FakeCompletion(lambda r: texts[r.variant_id])
    seen = []

    result = await run_sweep(
        spec(),
        complete,
        fake_embedder,
        cache=CompletionCache(tmp_path),
        on_completion=seen.append,
    )

    assert len(seen) == len(result.completions) == 12
    shifts = {(s.model, s.variant_id): s.shift for s in result.shifts}
    assert shifts[("a", "polite")] == pytest.approx(0.0, abs=1e-6)
    assert shifts[("a", "shout")] > 0.5
    assert result.noise_floors == {
        "a": pytest.approx(0.0, abs=1e-6),
        "b": pytest.approx(0.0, abs=1e-6),
    }
    rows = result.rows()
    assert {
        "model",
        "variant",
        "category",
        "sample",
        "prompt",
        "text",
        "divergence",
        "latency_s",
        "cache_hit",
        "error",
    } <= set(rows[0])
    assert [row["variant"] for row in rows[:4]] == [BASELINE_ID] * 4


async def test_failed_cells_are_kept_and_marked(fake_embedder) -> None:  # type: ignore[no-untyped-def]
    def script(request):  # type: ignore[no-untyped-def]
        if request.model == "b":
            raise RuntimeError("b is down")
        return "fine"

    result = await run_sweep(spec(), FakeCompletion(script), fake_embedder)

    assert len(result.failures) == 6
    rows = [row for row in result.rows() if row["model"] == "b"]
    assert all(
        row["error"] == "b is down" and row["divergence"] is None for row in rows
    )


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"prompt": "   \n"}, BadPromptError, "The prompt is empty"),
        (
            {"prompt": "x" * 8001},
            BadPromptError,
            "8,001 characters; the limit is 8,000",
        ),
        ({"models": ()}, ConfigurationError, "No model given"),
        (
            {"samples": 0},
            ConfigurationError,
            "samples must be between 1 and 50, got 0.",
        ),
        (
            {"params": GenerationParams(temperature=3)},
            ConfigurationError,
            "temperature must be between 0 and 2",
        ),
        (
            {"params": GenerationParams(max_tokens=0)},
            ConfigurationError,
            "max tokens must be between",
        ),
    ],
)
def test_bad_sweeps_are_refused(overrides: dict, error: type, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(error, match=message):
        spec(**overrides)
