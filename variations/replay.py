"""A finished sweep rebuilt from the cache, for pages that redraw it.

The app keeps no answers of its own: each redraw reads them back from the
completion cache. Failures are never cached, so their messages are passed in.
"""

from __future__ import annotations

from collections.abc import Mapping

from .cache import ReplyStore, request_key
from .records import Completion
from .sweep import SweepSpec, build_requests

NOT_STORED = "No stored answer for this cell: press Run to ask again."


def stored_completions(
    spec: SweepSpec, cache: ReplyStore, *, errors: Mapping[str, str] | None = None
) -> list[Completion]:
    """Every cell of the sweep: its cached answer, else its error (by request key)."""
    errors = errors or {}
    completions = []
    for request in build_requests(spec):
        cached = cache.get_reply(request)
        if cached is None:
            message = errors.get(request_key(request), NOT_STORED)
            completions.append(Completion(request, "", 0.0, error=message))
            continue
        reply, latency_s = cached
        completions.append(
            Completion(
                request=request,
                text=reply.text,
                latency_s=latency_s,
                cache_hit=True,
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens,
                cost_usd=reply.cost_usd,
            )
        )
    return completions


def is_fully_stored(spec: SweepSpec, cache: ReplyStore) -> bool:
    """Whether every cell of the sweep has a cached answer."""
    return all(cache.get_reply(request) is not None for request in build_requests(spec))
