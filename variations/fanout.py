"""The fan-out: send every request of a sweep concurrently, yield as they finish.

Cache look-ups come first; misses go out through the completion function with a
global and a per-model bound on concurrency, retries with backoff on transient
failures, and a per-call timeout. A failing call becomes an error on its cell:
the sweep always finishes.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from .cache import ReplyStore
from .errors import ConfigurationError, TransientModelError
from .records import ChatRequest, Completion, CompletionFn, Reply
from .redact import redact

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FanOutLimits:
    """How hard the fan-out may push: concurrency, patience, persistence."""

    concurrency: int = 64
    per_model_concurrency: int = 32
    timeout_s: float = 120.0
    retries: int = 3
    backoff_s: float = 0.5

    def __post_init__(self) -> None:
        for name in ("concurrency", "per_model_concurrency"):
            if getattr(self, name) < 1:
                raise ConfigurationError(
                    f"{name} must be at least 1, got {getattr(self, name)}."
                )
        if self.timeout_s <= 0:
            raise ConfigurationError(
                f"timeout must be a positive number of seconds, got {self.timeout_s}."
            )
        if self.retries < 0:
            raise ConfigurationError(f"retries must be 0 or more, got {self.retries}.")


async def fan_out(
    requests: Sequence[ChatRequest],
    complete: CompletionFn,
    *,
    cache: ReplyStore | None = None,
    limits: FanOutLimits | None = None,
) -> AsyncIterator[Completion]:
    """Yield one Completion per request, cached ones first, then in finish order."""
    limits = limits or FanOutLimits()
    misses = []
    for request in requests:
        cached = cache.get_reply(request) if cache else None
        if cached is None:
            misses.append(request)
            continue
        reply, latency_s = cached
        logger.info("%s %s: cache hit", request.model, request.variant_id)
        yield _completion(request, reply, latency_s, cache_hit=True)
    if not misses:
        return

    finished: asyncio.Queue[Completion] = asyncio.Queue()
    caller = _Caller(complete, cache, limits)
    tasks = [
        asyncio.create_task(caller.call_into(request, finished)) for request in misses
    ]
    try:
        for _ in misses:
            yield await finished.get()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def pending_requests(
    requests: Sequence[ChatRequest], cache: ReplyStore | None
) -> list[ChatRequest]:
    """The requests a sweep would still have to send."""
    if cache is None:
        return list(requests)
    return [request for request in requests if cache.get_reply(request) is None]


class _Caller:
    """One sweep's calls: shared semaphores, retries and recording."""

    def __init__(
        self, complete: CompletionFn, cache: ReplyStore | None, limits: FanOutLimits
    ) -> None:
        self._complete = complete
        self._cache = cache
        self._limits = limits
        self._all = asyncio.Semaphore(limits.concurrency)
        self._per_model: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(limits.per_model_concurrency)
        )

    async def call_into(
        self, request: ChatRequest, finished: asyncio.Queue[Completion]
    ) -> None:
        async with self._per_model[request.model], self._all:
            completion = await self._call(request)
        await finished.put(completion)

    async def _call(self, request: ChatRequest) -> Completion:
        started = time.perf_counter()
        try:
            reply = await self._call_with_retries(request)
        except TimeoutError:
            error = f"timed out after {self._limits.timeout_s:g} s"
        except Exception as exc:  # one failing model must not sink the sweep
            error = redact(str(exc) or type(exc).__name__)
        else:
            latency_s = time.perf_counter() - started
            if self._cache is not None:
                self._cache.put_reply(request, reply, latency_s)
            logger.info(
                "%s %s: cache miss, %.2f s, %s tokens",
                request.model,
                request.variant_id,
                latency_s,
                reply.completion_tokens,
            )
            return _completion(request, reply, latency_s, cache_hit=False)

        latency_s = time.perf_counter() - started
        logger.warning("%s %s: failed: %s", request.model, request.variant_id, error)
        return Completion(request=request, text="", latency_s=latency_s, error=error)

    async def _call_with_retries(self, request: ChatRequest) -> Reply:
        for attempt in range(self._limits.retries + 1):
            try:
                return await asyncio.wait_for(
                    self._complete(request), self._limits.timeout_s
                )
            except TransientModelError as exc:
                if attempt == self._limits.retries:
                    raise
                delay = self._limits.backoff_s * 2**attempt * random.uniform(0.5, 1.5)
                logger.info(
                    "%s: %s; retry %d in %.2f s", request.model, exc, attempt + 1, delay
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the loop returns or raises")


def _completion(
    request: ChatRequest, reply: Reply, latency_s: float, *, cache_hit: bool
) -> Completion:
    return Completion(
        request=request,
        text=reply.text,
        latency_s=latency_s,
        cache_hit=cache_hit,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        cost_usd=reply.cost_usd,
    )
