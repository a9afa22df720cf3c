from __future__ import annotations

from variations.progress import SweepProgress
from variations.records import ChatRequest, Completion


def cell(model: str, *, ok: bool = True, cached: bool = False) -> Completion:
    request = ChatRequest(model=model, variant_id="v", category="c", prompt="p")
    return Completion(request, "x", 0.1, cache_hit=cached, error=None if ok else "e")


def test_progress_counts_per_model_and_overall() -> None:
    requests = [cell(m).request for m in ("a", "a", "a", "b")]
    progress = SweepProgress.of(requests)

    progress.record(cell("a", cached=True))
    progress.record(cell("a", ok=False))
    progress.record(cell("b"))

    assert (progress.done, progress.total) == (3, 4)
    assert progress.fraction == 0.75
    assert progress.overall() == "3 of 4 answers · 1 from the cache"
    assert progress.model_status("a") == "1 of 3 answered, 1 failed"
    assert progress.model_status("b") == "1 of 1 answered · done"


def test_an_empty_sweep_is_complete() -> None:
    assert SweepProgress.of([]).fraction == 1.0
