"""Tests of the loopback chat server, over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from variations.loopback import LoopbackServer, completion_payload, echo_reply


def _chat_body(content: str = "Why is the sky blue?", **extra: Any) -> dict[str, Any]:
    return {
        "model": "test-model",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": content},
        ],
        **extra,
    }


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as running:
        yield running


def _post(server: LoopbackServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}/chat/completions", json=body, timeout=5)


def test_answer_has_chat_completion_shape(server: LoopbackServer) -> None:
    response = _post(server, _chat_body())

    assert response.status_code == 200
    payload = response.json()
    assert payload["object"] == "chat.completion"
    assert payload["id"].startswith("chatcmpl-")
    assert isinstance(payload["created"], int)
    assert payload["model"] == "test-model"
    choice = payload["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": "Echo: Why is the sky blue?",
    }
    assert choice["finish_reason"] == "stop"
    assert payload["usage"] == {
        "prompt_tokens": 8,
        "completion_tokens": 6,
        "total_tokens": 14,
    }


def test_path_without_v1_prefix_is_served(server: LoopbackServer) -> None:
    url = server.url.removesuffix("/v1") + "/chat/completions"
    response = httpx.post(url, json=_chat_body(), timeout=5)

    assert response.status_code == 200


def test_models_are_listed(server: LoopbackServer) -> None:
    response = httpx.get(f"{server.url}/models", timeout=5)

    assert response.status_code == 200
    assert response.json()["data"][0]["id"] == "loopback"


def test_reply_function_overrides_the_echo() -> None:
    def shout(body: dict[str, Any]) -> str:
        return str(body["messages"][-1]["content"]).upper()

    with LoopbackServer(reply=shout) as server:
        response = _post(server, _chat_body("hello there"))

    assert response.json()["choices"][0]["message"]["content"] == "HELLO THERE"


def test_failing_reply_function_gives_500() -> None:
    def broken(body: dict[str, Any]) -> str:
        raise RuntimeError("no reply today")

    with LoopbackServer(reply=broken) as server:
        response = _post(server, _chat_body())
        errors = server.stats.errors

    assert response.status_code == 500
    assert "no reply today" in response.json()["error"]["message"]
    assert errors == 1


@pytest.mark.parametrize(
    ("request_body", "expected"),
    [
        ({"messages": [{"role": "user", "content": "a b c d"}]}, "Echo: a b c d"),
        (
            {"messages": [{"role": "user", "content": "a b c d"}], "max_tokens": 3},
            "Echo: a b",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "first"},
                    {"role": "assistant", "content": "reply"},
                    {"role": "user", "content": "second"},
                ]
            },
            "Echo: second",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "x"}]}
                ]
            },
            "Echo: x",
        ),
        ({"messages": []}, "Echo:"),
    ],
)
def test_echo_reply(request_body: dict[str, Any], expected: str) -> None:
    assert echo_reply(request_body) == expected


def test_completion_payload_counts_words() -> None:
    payload = completion_payload(_chat_body("one two"), "three four five")

    assert payload["usage"] == {
        "prompt_tokens": 5,
        "completion_tokens": 3,
        "total_tokens": 8,
    }


@pytest.mark.parametrize(
    ("method", "path", "content", "status", "message"),
    [
        (
            "POST",
            "/v1/chat/completions",
            b'{"messages": [], "stream": true}',
            400,
            "the loopback server does not stream: send stream=false",
        ),
        ("POST", "/v1/chat/completions", b"{not json", 400, "body is not JSON"),
        ("POST", "/v1/chat/completions", b"[]", 400, "body must be a JSON object"),
        ("POST", "/v1/chat/completions", b"{}", 400, "body needs a 'messages' list"),
        ("GET", "/v1/chat/completions", b"", 405, "accepts POST, not GET"),
        ("POST", "/v1/embeddings", b"{}", 404, "no route for POST /v1/embeddings"),
    ],
)
def test_bad_requests_are_refused(
    server: LoopbackServer,
    method: str,
    path: str,
    content: bytes,
    status: int,
    message: str,
) -> None:
    url = server.url.removesuffix("/v1") + path
    response = httpx.request(method, url, content=content, timeout=5)

    assert response.status_code == status
    assert message in response.json()["error"]["message"]
    assert server.stats.bad_requests == 1


def test_latency_is_honoured() -> None:
    with LoopbackServer(latency_s=0.3) as server:
        started = time.perf_counter()
        _post(server, _chat_body())
        elapsed = time.perf_counter() - started

    assert 0.3 <= elapsed < 0.6


def test_jitter_stays_within_its_bounds() -> None:
    with LoopbackServer(latency_s=0.2, jitter_s=0.1, seed=3) as server:
        elapsed = []
        for _ in range(5):
            started = time.perf_counter()
            _post(server, _chat_body())
            elapsed.append(time.perf_counter() - started)

    # Only the lower bound is firm: a busy machine may answer late, never early.
    assert all(seconds >= 0.1 for seconds in elapsed)
    assert max(elapsed) - min(elapsed) > 0.01


def test_concurrent_requests_overlap() -> None:
    async def send_all(url: str, count: int) -> list[int]:
        limits = httpx.Limits(max_connections=count)
        async with httpx.AsyncClient(timeout=10, limits=limits) as client:
            requests = [
                client.post(f"{url}/chat/completions", json=_chat_body(f"q{index}"))
                for index in range(count)
            ]
            return [
                response.status_code for response in await asyncio.gather(*requests)
            ]

    with LoopbackServer(latency_s=0.5) as server:
        started = time.perf_counter()
        statuses = asyncio.run(send_all(server.url, 60))
        elapsed = time.perf_counter() - started
        stats = server.stats

    assert statuses == [200] * 60
    assert stats.max_in_flight == 60
    assert stats.in_flight == 0
    # All 60 overlapped (max_in_flight); serial handling would take 30 s. The
    # upper bound is loose because speed is measured in benchmarks/, not here.
    assert 0.5 <= elapsed < 10


def test_error_rate_one_gives_500() -> None:
    with LoopbackServer(error_rate=1.0) as server:
        response = _post(server, _chat_body())
        errors = server.stats.errors

    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    assert errors == 1


def test_rate_limit_rate_one_gives_429_with_retry_after() -> None:
    with LoopbackServer(rate_limit_rate=1.0, retry_after_s=2) as server:
        response = _post(server, _chat_body())
        rate_limited = server.stats.rate_limited

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert rate_limited == 1


def test_same_seed_injects_the_same_failures() -> None:
    def statuses(seed: int) -> list[int]:
        with LoopbackServer(error_rate=0.3, rate_limit_rate=0.3, seed=seed) as server:
            return [_post(server, _chat_body()).status_code for _ in range(12)]

    first = statuses(seed=7)

    assert statuses(seed=7) == first
    assert {200, 429, 500} <= set(first)


def test_stats_count_and_reset(server: LoopbackServer) -> None:
    for index in range(3):
        _post(server, _chat_body(f"question {index}"))
    stats = server.stats

    assert stats.requests == 3
    assert stats.max_in_flight == 1
    assert stats.errors == 0
    assert [body["messages"][-1]["content"] for body in stats.received] == [
        "question 0",
        "question 1",
        "question 2",
    ]
    assert server.received == stats.received
    assert len(stats.headers) == 3

    server.reset_stats()

    assert server.stats.requests == 0
    assert server.stats.received == ()


def test_keep_alive_serves_two_requests_on_one_socket(server: LoopbackServer) -> None:
    body = b'{"messages": [{"role": "user", "content": "hi"}]}'
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )

    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        answers = [_exchange(sock, request) for _ in range(2)]

    assert all(answer.startswith(b"HTTP/1.1 200 OK") for answer in answers)
    assert all(b"Echo: hi" in answer for answer in answers)


def _exchange(sock: socket.socket, request: bytes) -> bytes:
    sock.sendall(request)
    answer = b""
    while b"Echo: hi" not in answer or not answer.endswith(b"}"):
        answer += sock.recv(65536)
    return answer


def test_openai_client_talks_to_it(
    server: LoopbackServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = openai.OpenAI(base_url=server.url, api_key="sk-test", max_retries=0)
    with client:
        completion = client.chat.completions.create(
            model="loopback-model",
            messages=[{"role": "user", "content": "Name a colour."}],
            max_tokens=16,
        )

    assert completion.choices[0].message.content == "Echo: Name a colour."
    assert completion.model == "loopback-model"
    assert completion.usage is not None
    assert completion.usage.total_tokens == 7
    assert server.stats.headers[0]["authorization"] == "Bearer sk-test"
    assert "loopback-model" in caplog.text
    assert "sk-test" not in caplog.text


def test_openai_client_sees_rate_limit() -> None:
    with LoopbackServer(rate_limit_rate=1.0) as server:
        client = openai.OpenAI(base_url=server.url, api_key="sk-test", max_retries=0)
        with client, pytest.raises(openai.RateLimitError):
            client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )


def test_stop_then_start_again() -> None:
    server = LoopbackServer()
    server.start()
    first_url = server.url
    server.stop()
    server.start()

    try:
        assert _post(server, _chat_body()).status_code == 200
    finally:
        server.stop()
    assert first_url.startswith("http://127.0.0.1:")


def test_url_before_start_says_what_to_do() -> None:
    with pytest.raises(RuntimeError, match="call start"):
        _ = LoopbackServer().url


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"error_rate": 1.5}, "error_rate must be between 0 and 1, got 1.5"),
        ({"rate_limit_rate": -0.1}, "rate_limit_rate must be between 0 and 1"),
        ({"latency_s": -1.0}, "must be >= 0"),
    ],
)
def test_bad_options_are_refused(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LoopbackServer(**options)  # type: ignore[arg-type]


def test_module_runs_as_a_script() -> None:
    command = [sys.executable, "-m", "variations.loopback", "--port", "0"]
    project_root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen(
        command, cwd=project_root, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        response = httpx.post(f"{url}/chat/completions", json=_chat_body(), timeout=5)
    finally:
        process.terminate()
        process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()

    assert url.startswith("http://127.0.0.1:")
    assert response.json()["choices"][0]["message"]["content"].startswith("Echo:")


def test_port_in_use_is_raised_by_start(server: LoopbackServer) -> None:
    with pytest.raises(OSError):
        LoopbackServer(port=server.port).start()
