from __future__ import annotations

import pytest

from variations.errors import ConfigurationError
from variations.providers import LOCAL_MODEL
from variations.settings import (
    DEFAULT_MAX_CELLS,
    LOCAL_MAX_TOKENS,
    REMOTE_MAX_TOKENS,
    load_settings,
)


def test_without_configuration_the_local_model_is_offered_alone() -> None:
    settings = load_settings({})

    assert settings.models == (LOCAL_MODEL,)
    assert settings.default_models == (LOCAL_MODEL,)
    assert settings.api_base is None
    assert settings.max_cells == DEFAULT_MAX_CELLS
    assert settings.default_max_tokens == LOCAL_MAX_TOKENS


def test_configured_models_come_first_and_the_local_model_is_always_offered() -> None:
    settings = load_settings(
        {
            "VARIATIONS_MODELS": " openai/a, anthropic/b ,openai/a,",
            "VARIATIONS_API_BASE": "http://127.0.0.1:9000/v1",
            "VARIATIONS_MAX_CELLS": "90",
        }
    )

    assert settings.models == ("openai/a", "anthropic/b", LOCAL_MODEL)
    assert settings.default_models == ("openai/a", "anthropic/b")
    assert settings.api_base == "http://127.0.0.1:9000/v1"
    assert settings.max_cells == 90
    assert settings.default_max_tokens == REMOTE_MAX_TOKENS


def test_listing_the_local_model_keeps_it_once() -> None:
    settings = load_settings({"VARIATIONS_MODELS": f"{LOCAL_MODEL},openai/a"})

    assert settings.models == (LOCAL_MODEL, "openai/a")
    assert settings.default_max_tokens == LOCAL_MAX_TOKENS


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"VARIATIONS_MODELS": "openai/a,<script>"}, "holds '<script>', which is not"),
        ({"VARIATIONS_MODELS": "bad name"}, "VARIATIONS_MODELS holds 'bad name'"),
        (
            {"VARIATIONS_API_BASE": "ftp://host/v1"},
            "VARIATIONS_API_BASE must be an http",
        ),
        (
            {"VARIATIONS_API_BASE": "localhost:8000"},
            "VARIATIONS_API_BASE must be an http",
        ),
        ({"VARIATIONS_MAX_CELLS": "many"}, "got 'many'"),
        ({"VARIATIONS_MAX_CELLS": "0"}, "at least 1; got '0'"),
    ],
)
def test_bad_configuration_names_the_variable(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_settings(environ)


def test_an_api_base_with_credentials_is_not_echoed() -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings({"VARIATIONS_API_BASE": "ftp://user:s3cret@host"})

    assert "s3cret" not in str(raised.value)


def test_settings_are_read_from_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VARIATIONS_MODELS", "openai/x")

    assert load_settings().models == ("openai/x", LOCAL_MODEL)


def test_the_operator_chooses_the_rewriting_model() -> None:
    chosen = load_settings(
        {"VARIATIONS_MODELS": "openai/a", "VARIATIONS_REWRITE_MODEL": "openai/a"}
    )

    assert chosen.rewrite_model == "openai/a"
    assert load_settings({}).rewrite_model == "local/smollm2-135m"
    with pytest.raises(ConfigurationError, match="VARIATIONS_REWRITE_MODEL is 'x'"):
        load_settings({"VARIATIONS_REWRITE_MODEL": "x"})
