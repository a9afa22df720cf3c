from __future__ import annotations

import asyncio
import time

import pytest

from variations.cache import CompletionCache
from variations.errors import ConfigurationError, ModelCallError, TransientModelError
from variations.fanout import FanOutLimits, fan_out, pending_requests
from variations.records import ChatRequest, Completion, GenerationParams

from .conftest import FakeCompletion


def make_requests(models: list[str], count: int) -> list[ChatRequest]:
    return [
        ChatRequest(
            model=model, variant_id=f"v{i}", category="tone", prompt=f"prompt {i}"
        )
        for model in models
        for i in range(count)
    ]


async def collect(iterator) -> list[Completion]:  # type: ignore[no-untyped-def]
    return [completion async for completion in iterator]


async def test_yields_in_finishing_order() -> None:
    requests = make_requests(["m"], 3)
    delays = {"v0": 0.15, "v1": 0.0, "v2": 0.05}
    complete = FakeCompletion(delay=lambda r: delays[r.variant_id])

    completions = await collect(fan_out(requests, complete))

    assert [c.request.variant_id for c in completions] == ["v1", "v2", "v0"]
    assert all(c.ok and not c.cache_hit for c in completions)


async def test_sends_everything_at_once_within_bounds() -> None:
    requests = make_requests(["a", "b", "c"], 20)
    complete = FakeCompletion(delay=lambda r: 0.2)
    started = time.perf_counter()

    completions = await collect(
        fan_out(requests, complete, limits=FanOutLimits(concurrency=60))
    )

    assert len(completions) == 60
    assert complete.max_in_flight == 60
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("concurrency", "per_model", "expected_total", "expected_per_model"),
    [(4, 10, 4, 4), (10, 2, 6, 2), (1, 1, 1, 1)],
)
async def test_concurrency_is_bounded_globally_and_per_model(
    concurrency: int, per_model: int, expected_total: int, expected_per_model: int
) -> None:
    complete = FakeCompletion(delay=lambda r: 0.02)
    limits = FanOutLimits(concurrency=concurrency, per_model_concurrency=per_model)

    await collect(fan_out(make_requests(["a", "b", "c"], 6), complete, limits=limits))

    assert complete.max_in_flight == expected_total
    assert max(complete.max_in_flight_by_model.values()) == expected_per_model


async def test_transient_failures_are_retried_then_succeed() -> None:
    attempts: dict[str, int] = {}

    def flaky(request: ChatRequest) -> str:
        attempts[request.variant_id] = attempts.get(request.variant_id, 0) + 1
        if attempts[request.variant_id] < 3:
            raise TransientModelError(request.model, "429 rate limited")
        return "fine"

    limits = FanOutLimits(retries=3, backoff_s=0.001)
    completions = await collect(
        fan_out(make_requests(["m"], 2), FakeCompletion(flaky), limits=limits)
    )

    assert [c.text for c in completions] == ["fine", "fine"]
    assert attempts == {"v0": 3, "v1": 3}


async def test_exhausted_retries_become_an_error_on_the_cell() -> None:
    def always_busy(request: ChatRequest) -> str:
        raise TransientModelError(request.model, "503 overloaded")

    limits = FanOutLimits(retries=2, backoff_s=0.001)
    complete = FakeCompletion(always_busy)
    (completion,) = await collect(
        fan_out(make_requests(["m"], 1), complete, limits=limits)
    )

    assert completion.error == "m: 503 overloaded"
    assert len(complete.calls) == 3


async def test_one_failing_model_never_sinks_the_sweep(tmp_path) -> None:  # type: ignore[no-untyped-def]
    def broken_b(request: ChatRequest) -> str:
        if request.model == "b":
            raise ModelCallError("b", "401 bad credentials")
        if request.model == "c":
            raise RuntimeError("unexpected provider crash")
        return "ok"

    cache = CompletionCache(tmp_path)
    requests = make_requests(["a", "b", "c"], 2)
    completions = await collect(
        fan_out(requests, FakeCompletion(broken_b), cache=cache)
    )

    by_model = {c.request.model: c for c in completions}
    assert by_model["a"].ok
    assert by_model["b"].error == "b: 401 bad credentials"
    assert by_model["c"].error == "unexpected provider crash"
    assert len(cache) == 2, "failures are never cached"
    assert len(pending_requests(requests, cache)) == 4


async def test_timeout_is_recorded_per_cell() -> None:
    complete = FakeCompletion(delay=lambda r: 5.0 if r.variant_id == "v0" else 0.0)
    limits = FanOutLimits(timeout_s=0.05)

    completions = await collect(
        fan_out(make_requests(["m"], 2), complete, limits=limits)
    )

    errors = {c.request.variant_id: c.error for c in completions}
    assert errors == {"v0": "timed out after 0.05 s", "v1": None}


async def test_cached_replies_come_first_and_skip_the_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cache = CompletionCache(tmp_path)
    requests = make_requests(["m"], 3)
    first = FakeCompletion()
    await collect(fan_out(requests[:2], first, cache=cache))

    second = FakeCompletion()
    completions = await collect(fan_out(requests, second, cache=cache))

    assert [c.cache_hit for c in completions] == [True, True, False]
    assert [r.variant_id for r in second.calls] == ["v2"]
    assert completions[0].text == "answer to: prompt 0"


async def test_closing_early_cancels_outstanding_calls() -> None:
    complete = FakeCompletion(delay=lambda r: 0.0 if r.variant_id == "v0" else 10.0)
    iterator = fan_out(make_requests(["m"], 3), complete)

    first = await iterator.__anext__()
    await iterator.aclose()

    assert first.request.variant_id == "v0"
    await asyncio.sleep(0)
    assert complete.in_flight == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("concurrency", 0, "concurrency must be at least 1, got 0."),
        (
            "per_model_concurrency",
            -1,
            "per_model_concurrency must be at least 1, got -1.",
        ),
        ("timeout_s", 0, "timeout must be a positive number of seconds, got 0."),
        ("retries", -2, "retries must be 0 or more, got -2."),
    ],
)
def test_limits_reject_bad_values(field: str, value: float, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        FanOutLimits(**{field: value})
    assert str(caught.value) == message


def test_distinct_parameters_are_distinct_requests() -> None:
    base = ChatRequest(model="m", variant_id="v", category="tone", prompt="p")
    hotter = ChatRequest(
        model="m",
        variant_id="v",
        category="tone",
        prompt="p",
        params=GenerationParams(temperature=1.0),
    )
    assert base != hotter
