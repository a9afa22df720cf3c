"""Shared fixtures: isolated caches, no provider keys, fakes at the seams."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from variations.embeddings import EMBEDDING_DIM, Embedder
from variations.records import ChatRequest, Reply

PROVIDER_KEY_SUFFIXES = ("_API_KEY", "_API_TOKEN")


@pytest.fixture(autouse=True)
def isolated_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Point every cache at tmp_path and strip provider keys from the env."""
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("VARIATIONS_CACHE_DIR", str(cache_dir))
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    for name in list(os.environ):
        if name.endswith(PROVIDER_KEY_SUFFIXES):
            monkeypatch.delenv(name)
    yield cache_dir


class FakeEncoder:
    """Maps text to a small deterministic unit vector; equal texts, equal vectors.

    Texts that share words share directions, so similar answers are close.
    """

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, sentences: list[str], **kwargs: Any) -> np.ndarray:
        self.calls.append(list(sentences))
        vectors = np.zeros((len(sentences), EMBEDDING_DIM), dtype=np.float32)
        for row, sentence in enumerate(sentences):
            for word in sentence.lower().split() or [""]:
                digest = hashlib.sha256(word.encode()).digest()
                vectors[row, digest[0] % 32] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def fake_embedder(fake_encoder: FakeEncoder, tmp_path: Path) -> Embedder:
    return Embedder(tmp_path / "cache", encoder=fake_encoder)


class FakeCompletion:
    """A completion function that records calls and answers from a script.

    `script(request)` returns the reply text or raises; `delay(request)` gives
    seconds to wait, so tests can control the finishing order.
    """

    def __init__(
        self,
        script: Callable[[ChatRequest], str] | None = None,
        delay: Callable[[ChatRequest], float] | None = None,
    ) -> None:
        self.script = script or (lambda request: f"answer to: {request.prompt}")
        self.delay = delay or (lambda request: 0.0)
        self.calls: list[ChatRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.max_in_flight_by_model: dict[str, int] = {}
        self._by_model: dict[str, int] = {}

    async def __call__(self, request: ChatRequest) -> Reply:
        self.calls.append(request)
        self.in_flight += 1
        self._by_model[request.model] = self._by_model.get(request.model, 0) + 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.max_in_flight_by_model[request.model] = max(
            self.max_in_flight_by_model.get(request.model, 0),
            self._by_model[request.model],
        )
        try:
            await asyncio.sleep(self.delay(request))
            text = self.script(request)
        finally:
            self.in_flight -= 1
            self._by_model[request.model] -= 1
        return Reply(text=text, prompt_tokens=3, completion_tokens=len(text.split()))


@pytest.fixture
def fake_completion() -> FakeCompletion:
    return FakeCompletion()


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder with the embedded chat model converted (once a session)."""
    from variations.local_model import prepare_local_model

    cache_dir = tmp_path_factory.mktemp("local-model-cache")
    prepare_local_model(cache_dir)
    return cache_dir


@pytest.fixture(scope="session")
def chat_model(model_cache_dir: Path) -> Any:
    from variations.local_model import load_local_model

    return load_local_model(model_cache_dir)
