"""litellm against a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest

from variations import providers
from variations.cache import CompletionCache
from variations.errors import (
    ApiBaseUnreachableError,
    MissingKeyError,
    ModelCallError,
    TransientModelError,
    UnknownModelError,
)
from variations.fanout import FanOutLimits, fan_out
from variations.loopback import LoopbackServer
from variations.providers import (
    check_api_base,
    check_models,
    complete_with_litellm,
    release_clients,
)
from variations.records import ChatRequest, GenerationParams

SECRET = "sk-test-DO-NOT-LEAK-4242424242"


@pytest.fixture(autouse=True)
async def closed_clients():  # type: ignore[no-untyped-def]
    yield
    await release_clients()


def request_for(
    server: LoopbackServer, prompt: str = "Hello there", **params: object
) -> ChatRequest:
    return ChatRequest(
        model="openai/loopback-model",
        variant_id="polite",
        category="tone",
        prompt=prompt,
        params=GenerationParams(api_base=server.url, **params),  # type: ignore[arg-type]
    )


async def test_a_call_through_litellm_returns_text_and_usage() -> None:
    with LoopbackServer() as server:
        reply = await complete_with_litellm(
            request_for(server, temperature=0.3, max_tokens=20, seed=7)
        )

        assert reply.text == "Echo: Hello there"
        assert reply.completion_tokens is not None and reply.completion_tokens > 0
        (body,) = server.received
        assert body["model"] == "loopback-model"
        assert body["temperature"] == 0.3
        assert body["max_tokens"] == 20
        assert body["seed"] == 7


async def test_server_errors_become_transient_errors() -> None:
    with LoopbackServer(error_rate=1.0) as server:
        with pytest.raises(TransientModelError) as caught:
            await complete_with_litellm(request_for(server))
    assert caught.value.model == "openai/loopback-model"


async def test_rate_limits_become_transient_errors() -> None:
    with LoopbackServer(rate_limit_rate=1.0) as server:
        with pytest.raises(TransientModelError):
            await complete_with_litellm(request_for(server))


async def test_sweep_recovers_from_flaky_server_and_records_the_rest(
    tmp_path: Path,
) -> None:
    with LoopbackServer(error_rate=0.3, rate_limit_rate=0.2, seed=3) as server:
        requests = [request_for(server, f"question {i}") for i in range(12)]
        limits = FanOutLimits(retries=4, backoff_s=0.01)
        cache = CompletionCache(tmp_path)

        completions = [
            c
            async for c in fan_out(
                requests, complete_with_litellm, cache=cache, limits=limits
            )
        ]

    assert len(completions) == 12
    assert sum(c.ok for c in completions) >= 10
    assert server.stats.requests > 12, "some calls were retried"
    assert len(cache) == sum(c.ok for c in completions)


async def test_the_api_key_is_sent_but_never_logged_or_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    with LoopbackServer(error_rate=0.5, seed=1) as server:
        cache = CompletionCache(tmp_path)
        requests = [request_for(server, f"q{i}") for i in range(6)]
        completions = [
            c
            async for c in fan_out(
                requests,
                complete_with_litellm,
                cache=cache,
                limits=FanOutLimits(retries=0),
            )
        ]
        cache.close()

    assert any(SECRET in h.get("authorization", "") for h in server.stats.headers)
    assert SECRET not in caplog.text
    assert all(SECRET not in (c.error or "") for c in completions)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes()


async def test_an_unreachable_server_fails_the_cell_not_the_sweep() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request = ChatRequest(
        model="openai/x",
        variant_id="v",
        category="c",
        prompt="hi",
        params=GenerationParams(api_base=f"http://127.0.0.1:{port}/v1"),
    )
    limits = FanOutLimits(retries=1, backoff_s=0.01, timeout_s=10)

    (completion,) = [
        c async for c in fan_out([request], complete_with_litellm, limits=limits)
    ]

    assert completion.error is not None
    assert "openai/x" in completion.error


def test_unknown_model_names_are_refused_with_examples() -> None:
    with pytest.raises(UnknownModelError) as caught:
        check_models(["not-a-real-model-xyz"])
    assert str(caught.value).startswith(
        "litellm does not know model 'not-a-real-model-xyz'. Name it with its provider"
    )


def test_unknown_local_model() -> None:
    with pytest.raises(UnknownModelError, match="Unknown local model 'local/gpt-9'"):
        check_models(["local/gpt-9"])


@pytest.mark.parametrize(
    ("model", "variable"),
    [
        ("openai/gpt-4o-mini", "OPENAI_API_KEY"),
        ("anthropic/claude-3-5-haiku-latest", "ANTHROPIC_API_KEY"),
    ],
)
def test_missing_keys_name_the_variable(model: str, variable: str) -> None:
    with pytest.raises(MissingKeyError) as caught:
        check_models([model])
    assert str(caught.value) == (
        f"{model} needs an API key: set the environment variable {variable} "
        f"(export {variable}=...) and run again."
    )


def test_a_present_key_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    check_models(["openai/gpt-4o-mini"])


def test_local_and_api_base_models_need_no_key() -> None:
    with LoopbackServer() as server:
        check_models(["local/smollm2-135m", "openai/anything"], api_base=server.url)


@pytest.mark.parametrize(
    ("api_base", "message"),
    [
        ("ftp://example", r"is not an http\(s\) URL"),
        ("localhost:8000", r"is not an http\(s\) URL"),
    ],
)
def test_malformed_api_base(api_base: str, message: str) -> None:
    with pytest.raises(ApiBaseUnreachableError, match=message):
        check_api_base(api_base)


def test_unreachable_api_base() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(
        ApiBaseUnreachableError,
        match=f"Nothing answers at --api-base http://127.0.0.1:{port}/v1",
    ):
        check_api_base(f"http://127.0.0.1:{port}/v1")


async def test_model_call_errors_keep_the_model_name() -> None:
    with LoopbackServer() as server:
        request = ChatRequest(
            model="openai/loopback-model",
            variant_id="v",
            category="c",
            prompt="hi",
            params=GenerationParams(api_base=server.url + "/nowhere"),
        )
        with pytest.raises(ModelCallError) as caught:
            await complete_with_litellm(request)
    assert caught.value.model == "openai/loopback-model"


async def test_turns_stagger_preparation_but_not_the_requests_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With no timeout, only litellm's report that a request left frees a turn.
    monkeypatch.setattr(providers, "_TURN_TIMEOUT_S", 60.0)
    calls = 4 * providers._PREPARING_AT_ONCE
    with LoopbackServer(latency_s=0.3) as server:
        replies = await asyncio.wait_for(
            asyncio.gather(
                *(
                    complete_with_litellm(request_for(server, f"q{i}"))
                    for i in range(calls)
                )
            ),
            timeout=20,
        )
        assert server.stats.max_in_flight == calls
    assert [r.text for r in replies] == [f"Echo: q{i}" for i in range(calls)]


async def test_a_call_failing_before_its_request_gives_its_turn_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(providers, "_TURN_TIMEOUT_S", 60.0)
    request = ChatRequest(
        model="no-such-provider/x", variant_id="v", category="c", prompt="hi"
    )
    for _ in range(providers._PREPARING_AT_ONCE + 2):
        with pytest.raises(ModelCallError):
            await asyncio.wait_for(complete_with_litellm(request), timeout=10)


async def test_the_local_model_takes_no_turn() -> None:
    assert await providers._take_turn("local/smollm2-135m") is None
