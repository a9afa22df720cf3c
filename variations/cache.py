"""The durable completion cache: one diskcache folder shared by app and CLI.

A key covers everything that shapes an answer (model, messages, generation
parameters, API base, sample index) and nothing secret. Only successful
replies are stored; a failure is always asked again next time.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from .records import ChatRequest, Reply

CACHE_ENV = "VARIATIONS_CACHE_DIR"
DEFAULT_CACHE_DIR = Path(__file__).resolve().parent.parent / "cache"
_KEY_VERSION = 1


def default_cache_dir() -> Path:
    """The cache folder: $VARIATIONS_CACHE_DIR, else the project's cache/."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured).expanduser() if configured else DEFAULT_CACHE_DIR


def request_key(request: ChatRequest) -> str:
    """A stable hash of everything that shapes the answer to a request."""
    material = {
        "v": _KEY_VERSION,
        "model": request.model,
        "messages": [asdict(message) for message in request.messages],
        "temperature": request.params.temperature,
        "max_tokens": request.params.max_tokens,
        "seed": request.sample_seed,
        "api_base": request.params.api_base,
        "sample": request.sample,
    }
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return "chat:" + hashlib.sha256(canonical.encode()).hexdigest()


class ReplyStore(Protocol):
    """What the fan-out needs of a cache; diskcache and Redis can both serve."""

    def get_reply(self, request: ChatRequest) -> tuple[Reply, float] | None: ...

    def put_reply(
        self, request: ChatRequest, reply: Reply, latency_s: float
    ) -> None: ...


class CompletionCache:
    """Replies on disk, keyed by request_key, as JSON."""

    def __init__(self, directory: Path | None = None) -> None:
        import diskcache

        self.directory = Path(directory or default_cache_dir()) / "completions"
        self._cache = diskcache.Cache(str(self.directory))

    def get_reply(self, request: ChatRequest) -> tuple[Reply, float] | None:
        raw = self._cache.get(request_key(request))
        if raw is None:
            return None
        data: dict[str, Any] = json.loads(raw)
        latency_s = float(data.pop("latency_s", 0.0))
        return Reply(**data), latency_s

    def put_reply(self, request: ChatRequest, reply: Reply, latency_s: float) -> None:
        value = json.dumps({**asdict(reply), "latency_s": latency_s})
        self._cache.set(request_key(request), value)

    def close(self) -> None:
        self._cache.close()

    def __len__(self) -> int:
        return len(self._cache)
