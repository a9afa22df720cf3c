from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from variations.cache import CompletionCache, default_cache_dir, request_key
from variations.records import ChatRequest, GenerationParams, Reply

BASE = ChatRequest(
    model="openai/gpt-x", variant_id="polite", category="tone", prompt="Hi"
)


@pytest.mark.parametrize(
    "changed",
    [
        ChatRequest(
            model="openai/gpt-y", variant_id="polite", category="tone", prompt="Hi"
        ),
        ChatRequest(
            model="openai/gpt-x", variant_id="polite", category="tone", prompt="Hi!"
        ),
        ChatRequest(
            model="openai/gpt-x",
            variant_id="polite",
            category="tone",
            prompt="Hi",
            sample=1,
        ),
        ChatRequest(
            model="openai/gpt-x",
            variant_id="polite",
            category="tone",
            prompt="Hi",
            params=GenerationParams(temperature=0.2),
        ),
        ChatRequest(
            model="openai/gpt-x",
            variant_id="polite",
            category="tone",
            prompt="Hi",
            params=GenerationParams(max_tokens=7),
        ),
        ChatRequest(
            model="openai/gpt-x",
            variant_id="polite",
            category="tone",
            prompt="Hi",
            params=GenerationParams(seed=3),
        ),
        ChatRequest(
            model="openai/gpt-x",
            variant_id="polite",
            category="tone",
            prompt="Hi",
            params=GenerationParams(api_base="http://127.0.0.1:9/v1"),
        ),
    ],
)
def test_every_generation_input_changes_the_key(changed: ChatRequest) -> None:
    assert request_key(changed) != request_key(BASE)


def test_the_variant_label_alone_does_not_change_the_key() -> None:
    # Two variants that send the same text to the same model share an answer.
    same_text = ChatRequest(
        model="openai/gpt-x", variant_id="other", category="x", prompt="Hi"
    )
    assert request_key(same_text) == request_key(BASE)


def test_round_trip_keeps_reply_and_latency(tmp_path: Path) -> None:
    cache = CompletionCache(tmp_path)
    reply = Reply(text="Hello", prompt_tokens=2, completion_tokens=1, cost_usd=0.001)

    cache.put_reply(BASE, reply, 0.25)

    assert cache.get_reply(BASE) == (reply, 0.25)
    assert cache.get_reply(BASE.__class__(**{**BASE.__dict__, "sample": 2})) is None


def test_no_api_key_in_keys_or_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-test-SECRET-0123456789"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    cache = CompletionCache(tmp_path)

    cache.put_reply(BASE, Reply(text="Hello"), 0.1)
    cache.close()

    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def test_values_are_json_not_pickles(tmp_path: Path) -> None:
    cache = CompletionCache(tmp_path)
    cache.put_reply(BASE, Reply(text="Hello"), 0.1)

    raw = cache._cache.get(request_key(BASE))

    assert json.loads(raw)["text"] == "Hello"


def test_default_dir_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("VARIATIONS_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("VARIATIONS_CACHE_DIR")
    assert default_cache_dir().name == "cache"
    assert os.path.isabs(default_cache_dir())
