from __future__ import annotations

from pathlib import Path

from variations.cache import CompletionCache, request_key
from variations.records import Reply
from variations.replay import NOT_STORED, is_fully_stored, stored_completions
from variations.sweep import SweepSpec, build_requests
from variations.variants import load_library


def spec() -> SweepSpec:
    return SweepSpec(
        prompt="Is coffee healthy?",
        variants=load_library().select("polite,hostile"),
        models=("a", "b"),
    )


def test_stored_answers_come_back_in_request_order(tmp_path: Path) -> None:
    cache = CompletionCache(tmp_path)
    requests = build_requests(spec())
    for request in requests:
        cache.put_reply(request, Reply(f"answer {request.variant_id}", 3, 2), 0.5)

    completions = stored_completions(spec(), cache)

    assert is_fully_stored(spec(), cache)
    assert [c.request for c in completions] == requests
    assert all(c.ok and c.cache_hit and c.latency_s == 0.5 for c in completions)
    assert completions[0].text == "answer original"


def test_missing_cells_carry_their_recorded_error(tmp_path: Path) -> None:
    cache = CompletionCache(tmp_path)
    requests = build_requests(spec())
    for request in requests[1:]:
        cache.put_reply(request, Reply("fine"), 0.1)
    failed = requests[0]

    completions = stored_completions(
        spec(), cache, errors={request_key(failed): "b: rate limited"}
    )

    assert not is_fully_stored(spec(), cache)
    assert completions[0].error == "b: rate limited"
    assert sum(not c.ok for c in completions) == 1


def test_missing_cells_without_a_record_say_so(tmp_path: Path) -> None:
    completions = stored_completions(spec(), CompletionCache(tmp_path))

    assert {c.error for c in completions} == {NOT_STORED}
