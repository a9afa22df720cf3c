"""The provider boundary: model names checked and called through litellm.

Remote APIs, OpenAI-compatible servers and the embedded local model are all
reached by their litellm names; litellm's exceptions are converted here into
the library's own, keeping the model's name. litellm is imported on first use
only, because importing it costs seconds a fully cached sweep need not pay.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
import weakref
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from .errors import (
    ApiBaseUnreachableError,
    MissingKeyError,
    ModelCallError,
    TransientModelError,
    UnknownModelError,
)
from .records import ChatRequest, Reply

LOCAL_PREFIX = "local/"
LOCAL_MODEL = "local/smollm2-135m"
# OpenAI-compatible servers (vLLM, Ollama, llama.cpp) rarely check the key, but
# the OpenAI client refuses to start without one; this is no secret.
_PLACEHOLDER_KEY = "no-key-needed"
# Remote calls of one event loop that may be preparing a request at once. litellm
# spends milliseconds of CPU on a call before its request leaves: sixty calls
# started together sent their first request after 0.13-0.2 s, then all waited at
# once. Taking turns, early requests leave while later calls still prepare.
# bench_fanout.py, cold fan-out: 1.31-1.62x -> 1.16-1.30x bare; 2 to 6 turns alike.
_PREPARING_AT_ONCE = 3
# A call whose provider never reports its request gives up its turn after this.
_TURN_TIMEOUT_S = 0.05
_import_lock = threading.Lock()
_litellm: ModuleType | None = None
_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def import_litellm() -> ModuleType:
    """Import and configure litellm once per process (thread-safe)."""
    global _litellm
    if _litellm is not None:
        return _litellm
    with _import_lock:
        if _litellm is None:
            # Without this, importing litellm fetches its cost map from the network.
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            import litellm

            litellm.drop_params = True  # seed and the like, where unsupported
            litellm.suppress_debug_info = True
            litellm.telemetry = False
            from .local_model import register_with_litellm

            register_with_litellm()
            _litellm = litellm
        return _litellm


def check_models(models: Iterable[str], *, api_base: str | None = None) -> None:
    """Raise a clear error for a model that cannot be called as configured."""
    remote = [model for model in models if not model.startswith(LOCAL_PREFIX)]
    for model in models:
        if model.startswith(LOCAL_PREFIX) and model != LOCAL_MODEL:
            raise UnknownModelError(
                f"Unknown local model {model!r}: the embedded model is {LOCAL_MODEL}."
            )
    if not remote:
        return
    if api_base:
        check_api_base(api_base)
    litellm = import_litellm()
    for model in remote:
        _check_route(litellm, model, api_base)


def check_api_base(api_base: str, *, timeout_s: float = 3.0) -> None:
    """Raise ApiBaseUnreachableError unless something listens at api_base."""
    parts = urlsplit(api_base)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ApiBaseUnreachableError(
            f"--api-base {api_base!r} is not an http(s) URL; expected something "
            "like http://127.0.0.1:8000/v1."
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ApiBaseUnreachableError(
            f"Nothing answers at --api-base {api_base} ({exc.strerror or exc}). "
            "Start the server or correct the URL."
        ) from exc


async def complete_with_litellm(request: ChatRequest) -> Reply:
    """The production completion function: one chat call through litellm."""
    litellm = import_litellm()
    arguments = _call_arguments(request)
    turn = await _take_turn(request.model)
    if turn is not None:
        arguments["logger_fn"] = turn.on_litellm_log
    try:
        response = await litellm.acompletion(**arguments)
    except _transient_errors(litellm) as exc:
        raise TransientModelError(request.model, _message_of(exc)) from exc
    except Exception as exc:  # any provider failure is recorded on its cell
        raise ModelCallError(request.model, _message_of(exc)) from exc
    finally:
        if turn is not None:
            turn.release()
    return _reply_from(response)


async def release_clients() -> None:
    """Close litellm's pooled HTTP clients before their event loop ends.

    litellm caches clients per process; left open when a loop closes, their
    sockets leak until garbage collection and the next loop cannot reuse them.
    """
    litellm = sys.modules.get("litellm")
    if litellm is None:
        return
    await litellm.close_litellm_async_clients()
    litellm.in_memory_llm_clients_cache.flush_cache()


class _Turn:
    """One call's turn at preparing its request, given up once the request leaves.

    litellm calls ``logger_fn`` with ``log_event_type == "pre_api_call"`` just
    before it sends the provider request, from the loop or from its worker
    thread. The details it passes hold the API key: they are never kept.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, turns: asyncio.Semaphore
    ) -> None:
        self._loop = loop
        self._turns: asyncio.Semaphore | None = turns
        self._timer = loop.call_later(_TURN_TIMEOUT_S, self.release)

    def on_litellm_log(self, details: Mapping[str, Any]) -> None:
        if details.get("log_event_type") == "pre_api_call":
            self._loop.call_soon_threadsafe(self.release)

    def release(self) -> None:
        """Let the next call prepare; only ever run on the loop, safe to repeat."""
        if self._turns is None:
            return
        self._turns.release()
        self._turns = None
        self._timer.cancel()


async def _take_turn(model: str) -> _Turn | None:
    """Wait for a turn to prepare a remote call; None for the local model.

    The embedded model batches the calls that reach it together, and never
    reports a request, so its calls go straight in.
    """
    if model.startswith(LOCAL_PREFIX):
        return None
    loop = asyncio.get_running_loop()
    turns = _turns.get(loop)
    if turns is None:
        turns = _turns[loop] = asyncio.Semaphore(_PREPARING_AT_ONCE)
    await turns.acquire()
    return _Turn(loop, turns)


def _call_arguments(request: ChatRequest) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "model": request.model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "temperature": request.params.temperature,
        "max_tokens": request.params.max_tokens,
        "num_retries": 0,  # the fan-out retries, with its own backoff
    }
    if request.sample_seed is not None:
        arguments["seed"] = request.sample_seed
    if request.params.api_base:
        arguments["api_base"] = request.params.api_base
        if not _key_for(request.model):
            arguments["api_key"] = _PLACEHOLDER_KEY
    return arguments


def _reply_from(response: Any) -> Reply:
    usage = getattr(response, "usage", None)
    # litellm prices each response as it logs it; asking again costs ~2 ms a
    # call in model-name look-ups, a third of the fan-out's own overhead.
    hidden = getattr(response, "_hidden_params", None) or {}
    cost = hidden.get("response_cost")
    return Reply(
        text=(response.choices[0].message.content or "").strip(),
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        cost_usd=float(cost) if cost else None,
    )


def _check_route(litellm: ModuleType, model: str, api_base: str | None) -> None:
    try:
        litellm.get_llm_provider(model, api_base=api_base)
    except Exception as exc:  # litellm raises its own BadRequestError here
        raise UnknownModelError(
            f"litellm does not know model {model!r}. Name it with its provider, "
            "e.g. openai/gpt-4o-mini, anthropic/claude-3-5-haiku-latest, "
            f"ollama/llama3, or {LOCAL_MODEL} for the embedded model."
        ) from exc
    if api_base:
        return
    environment = litellm.validate_environment(model=model)
    missing = environment.get("missing_keys") or []
    if not environment.get("keys_in_environment", True) and missing:
        raise MissingKeyError(
            f"{model} needs an API key: set the environment variable "
            f"{missing[0]} (export {missing[0]}=...) and run again."
        )


def _key_for(model: str) -> str | None:
    provider = model.split("/", 1)[0].upper() if "/" in model else "OPENAI"
    return os.environ.get(f"{provider}_API_KEY")


def _transient_errors(litellm: ModuleType) -> tuple[type[BaseException], ...]:
    names = (
        "RateLimitError",
        "InternalServerError",
        "ServiceUnavailableError",
        "APIConnectionError",
        "Timeout",
    )
    return tuple(getattr(litellm, name) for name in names if hasattr(litellm, name))


def _message_of(exc: BaseException) -> str:
    # litellm prefixes messages with its own class path; keep the useful part.
    message = str(exc) or type(exc).__name__
    return message.replace("litellm.", "").strip()
