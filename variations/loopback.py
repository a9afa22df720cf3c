"""A fake OpenAI-compatible chat server on 127.0.0.1, for tests and benchmarks.

It answers ``POST /v1/chat/completions`` after a configurable latency, can inject
server errors and rate limits, and records what it received, so a test can check
what the client sent. Requests are served by asyncio in a background thread, so
sixty slow requests overlap instead of queueing.

    with LoopbackServer(latency_s=0.5) as server:
        client = openai.OpenAI(base_url=server.url, api_key="sk-test")
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

logger = logging.getLogger(__name__)

ReplyFunction = Callable[[dict[str, Any]], str]

CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})
MODELS_PATHS = frozenset({"/v1/models", "/models"})
DEFAULT_MAX_WORDS = 64
# Bigger than any request header block a chat client sends; longer is refused.
_MAX_HEADER_BYTES = 64 * 1024
_MAX_BODY_BYTES = 16 * 1024 * 1024
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


@dataclass(frozen=True)
class LoopbackStats:
    """A snapshot of what the server has seen since it started or was reset.

    ``errors`` counts 500 answers (injected or from a failing ``reply``),
    ``rate_limited`` counts 429 answers, ``bad_requests`` other 4xx answers.
    ``headers`` holds each request's headers with lower-cased names, in the same
    order as ``received`` for chat requests only.
    """

    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    errors: int = 0
    rate_limited: int = 0
    bad_requests: int = 0
    received: tuple[dict[str, Any], ...] = ()
    headers: tuple[dict[str, str], ...] = ()


@dataclass
class _Counters:
    """The mutable tallies behind LoopbackStats, guarded by the server's lock."""

    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    errors: int = 0
    rate_limited: int = 0
    bad_requests: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def snapshot(self) -> LoopbackStats:
        return LoopbackStats(
            requests=self.requests,
            in_flight=self.in_flight,
            max_in_flight=self.max_in_flight,
            errors=self.errors,
            rate_limited=self.rate_limited,
            bad_requests=self.bad_requests,
            received=tuple(self.received),
            headers=tuple(self.headers),
        )


@dataclass
class _Response:
    status: int
    payload: dict[str, Any]
    extra_headers: dict[str, str] = field(default_factory=dict)


class _BadRequestError(Exception):
    """The request cannot be parsed; the message is sent back to the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class LoopbackServer:
    """An OpenAI-compatible chat server on loopback with injectable slowness."""

    def __init__(
        self,
        latency_s: float = 0.0,
        jitter_s: float = 0.0,
        error_rate: float = 0.0,
        rate_limit_rate: float = 0.0,
        seed: int = 0,
        reply: ReplyFunction | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        retry_after_s: float = 1.0,
    ) -> None:
        _check_rate("error_rate", error_rate)
        _check_rate("rate_limit_rate", rate_limit_rate)
        if latency_s < 0 or jitter_s < 0 or retry_after_s < 0:
            raise ValueError(
                "latency_s, jitter_s and retry_after_s must be >= 0, got "
                f"{latency_s}, {jitter_s}, {retry_after_s}"
            )
        self.latency_s = latency_s
        self.jitter_s = jitter_s
        self.error_rate = error_rate
        self.rate_limit_rate = rate_limit_rate
        self.retry_after_s = retry_after_s
        self.reply = reply
        self.host = host
        self._requested_port = port
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._counters = _Counters()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shutdown: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._port: int | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("LoopbackServer is not running; call start() first")
        return self._port

    @property
    def url(self) -> str:
        """The api_base to give an OpenAI client, e.g. http://127.0.0.1:PORT/v1."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def stats(self) -> LoopbackStats:
        with self._lock:
            return self._counters.snapshot()

    @property
    def received(self) -> tuple[dict[str, Any], ...]:
        """The JSON bodies of the chat requests received, in arrival order."""
        return self.stats.received

    def reset_stats(self) -> None:
        with self._lock:
            self._counters = _Counters(in_flight=self._counters.in_flight)

    def start(self) -> None:
        """Bind an ephemeral port and serve from a daemon thread."""
        if self._thread is not None:
            raise RuntimeError("LoopbackServer is already running")
        self._ready.clear()
        self._startup_error = None
        self._thread = threading.Thread(
            target=self._run_loop, name="loopback-server", daemon=True
        )
        self._thread.start()
        self._ready.wait()

        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            raise self._startup_error
        logger.info("loopback server listening at %s", self.url)

    def stop(self) -> None:
        """Close every connection and join the server thread."""
        if self._thread is None:
            return
        if self._loop is not None and self._shutdown is not None:
            self._loop.call_soon_threadsafe(self._shutdown.set)
        self._thread.join()
        self._thread = None
        self._port = None

    def _run_loop(self) -> None:
        try:
            asyncio.run(self._serve())
        except Exception as exc:
            if self._ready.is_set():
                logger.exception("loopback server stopped on an error")
                return
            self._startup_error = exc  # start() raises it in the caller's thread
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._shutdown = asyncio.Event()
        connections: set[asyncio.Task[None]] = set()

        async def on_connect(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            task = asyncio.current_task()
            assert task is not None
            connections.add(task)
            try:
                await self._handle_connection(reader, writer)
            except asyncio.CancelledError:
                pass  # stop() cancels open connections on purpose
            finally:
                connections.discard(task)

        # A deep backlog so a burst of simultaneous connects is not refused.
        server = await asyncio.start_server(
            on_connect,
            self.host,
            self._requested_port,
            backlog=1024,
            limit=_MAX_HEADER_BYTES,
        )
        self._port = server.sockets[0].getsockname()[1]
        self._ready.set()

        await self._shutdown.wait()
        # A connection accepted just before shutdown needs a few loop turns to
        # get its transport; closing the server first makes asyncio drop it
        # with its socket still open. Let such a connection arrive first.
        await asyncio.sleep(0.05)
        server.close()
        for task in list(connections):
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await server.wait_closed()

    async def _handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            keep_alive = True
            while keep_alive:
                keep_alive = await self._handle_one_request(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to answer
        finally:
            writer.close()
            # Wait for the close so no socket outlives the server's loop.
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _handle_one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; return whether the connection stays open."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise
            return False  # a clean close between requests
        except asyncio.LimitOverrunError:
            await _write_response(writer, _error(413, "header block too large"), False)
            return False

        self._enter_request()
        try:
            method, path, headers = _parse_head(head)
            keep_alive = headers.get("connection", "").lower() != "close"
            response = await self._respond(method, path, headers, reader)
        except _BadRequestError as exc:
            response = _error(exc.status, str(exc))
            keep_alive = False
        finally:
            self._leave_request()

        self._count_outcome(response.status)
        await _write_response(writer, response, keep_alive)
        return keep_alive

    async def _respond(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        reader: asyncio.StreamReader,
    ) -> _Response:
        body = await _read_body(reader, headers)
        route = path.split("?", 1)[0].rstrip("/")
        if route in MODELS_PATHS and method == "GET":
            return _Response(200, _models_payload())
        if route not in CHAT_PATHS:
            return _error(404, f"no route for {method} {path}", "not_found_error")
        if method != "POST":
            return _error(405, f"{path} accepts POST, not {method}")

        request = _parse_chat_body(body)
        self._record(request, headers)
        return await self._answer_chat(request)

    async def _answer_chat(self, request: dict[str, Any]) -> _Response:
        if request.get("stream"):
            return _error(
                400,
                "the loopback server does not stream: send stream=false",
                param="stream",
            )
        outcome, delay_s = self._draw()
        await asyncio.sleep(delay_s)

        if outcome == "error":
            return _error(500, "injected server error", "server_error")
        if outcome == "rate_limit":
            return self._rate_limited()
        try:
            text = self.reply(request) if self.reply else echo_reply(request)
        except Exception as exc:  # any failure of a test's reply becomes a 500
            logger.warning("loopback reply function raised %r", exc)
            return _error(500, f"reply function failed: {exc}", "server_error")
        return _Response(200, completion_payload(request, text))

    def _draw(self) -> tuple[str, float]:
        """Pick this request's outcome and delay from the seeded generator."""
        with self._lock:
            roll = self._rng.random()
            jitter = self._rng.uniform(-self.jitter_s, self.jitter_s)
        if roll < self.error_rate:
            outcome = "error"
        elif roll < self.error_rate + self.rate_limit_rate:
            outcome = "rate_limit"
        else:
            outcome = "ok"
        return outcome, max(0.0, self.latency_s + jitter)

    def _rate_limited(self) -> _Response:
        response = _error(429, "injected rate limit", "rate_limit_error")
        response.extra_headers = {
            "Retry-After": str(math.ceil(self.retry_after_s)),
            "retry-after-ms": str(round(self.retry_after_s * 1000)),
        }
        return response

    def _record(self, request: dict[str, Any], headers: dict[str, str]) -> None:
        # Bodies only at DEBUG and headers never: they carry the API key.
        logger.debug("loopback request body %s", request)
        with self._lock:
            self._counters.received.append(request)
            self._counters.headers.append(dict(headers))

    def _enter_request(self) -> None:
        with self._lock:
            counters = self._counters
            counters.requests += 1
            counters.in_flight += 1
            counters.max_in_flight = max(counters.max_in_flight, counters.in_flight)

    def _leave_request(self) -> None:
        with self._lock:
            self._counters.in_flight -= 1

    def _count_outcome(self, status: int) -> None:
        with self._lock:
            if status >= 500:
                self._counters.errors += 1
            elif status == 429:
                self._counters.rate_limited += 1
            elif status >= 400:
                self._counters.bad_requests += 1


def echo_reply(request: dict[str, Any]) -> str:
    """The default reply: "Echo: " and the last user message, cut to max_tokens."""
    max_words = request.get("max_tokens") or request.get("max_completion_tokens")
    if not isinstance(max_words, int) or max_words <= 0:
        max_words = DEFAULT_MAX_WORDS
    words = ("Echo: " + _last_user_text(request.get("messages", []))).split()
    return " ".join(words[:max_words])


def completion_payload(request: dict[str, Any], text: str) -> dict[str, Any]:
    """A chat.completion object answering ``request`` with ``text``."""
    prompt_tokens = sum(
        _count_words(_content_text(message.get("content")))
        for message in request.get("messages", [])
        if isinstance(message, dict)
    )
    completion_tokens = _count_words(text)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model") or "loopback",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until interrupted: ``python -m variations.loopback --latency 0.5``."""
    args = _parse_args(argv)
    server = LoopbackServer(
        latency_s=args.latency,
        jitter_s=args.jitter,
        error_rate=args.error_rate,
        rate_limit_rate=args.rate_limit_rate,
        seed=args.seed,
        host=args.host,
        port=args.port,
    )
    with server:
        print(server.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m variations.loopback",
        description="Serve a fake OpenAI-compatible chat API on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds")
    parser.add_argument("--jitter", type=float, default=0.0, help="+/- seconds")
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--rate-limit-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def _check_rate(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequestError(400, f"not an HTTP/1.x request line: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return parts[0].upper(), parts[1], headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise _BadRequestError(400, "chunked bodies are not supported: send a length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise _BadRequestError(400, "Content-Length is not a number") from None
    if length > _MAX_BODY_BYTES:
        raise _BadRequestError(413, f"body of {length} bytes is over 16 MiB")
    return await reader.readexactly(length) if length > 0 else b""


def _parse_chat_body(body: bytes) -> dict[str, Any]:
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _BadRequestError(400, f"body is not JSON: {exc}") from None
    if not isinstance(request, dict):
        raise _BadRequestError(400, "body must be a JSON object")
    if not isinstance(request.get("messages"), list):
        raise _BadRequestError(400, "body needs a 'messages' list")
    return request


def _models_payload() -> dict[str, Any]:
    model = {"id": "loopback", "object": "model", "created": 0, "owned_by": "loopback"}
    return {"object": "list", "data": [model]}


def _error(
    status: int,
    message: str,
    kind: str = "invalid_request_error",
    *,
    param: str | None = None,
) -> _Response:
    error = {"message": message, "type": kind, "param": param, "code": None}
    return _Response(status, {"error": error})


async def _write_response(
    writer: asyncio.StreamWriter, response: _Response, keep_alive: bool
) -> None:
    body = json.dumps(response.payload).encode()
    reason = _REASONS.get(response.status, "Unknown")
    header_lines = [
        f"HTTP/1.1 {response.status} {reason}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
        *(f"{name}: {value}" for name, value in response.extra_headers.items()),
    ]
    writer.write(("\r\n".join(header_lines) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def _content_text(content: Any) -> str:
    """The text of a message content: a string, or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text", "") for part in content if isinstance(part, dict)]
        return " ".join(str(part) for part in parts)
    return ""


def _count_words(text: str) -> int:
    return len(text.split())


if __name__ == "__main__":
    main()
