from __future__ import annotations

from urllib.parse import urlencode

import pytest

from variations.errors import BadPromptError, ConfigurationError, ShareLinkError
from variations.providers import LOCAL_MODEL
from variations.settings import SEED, ServerSettings
from variations.sharing import (
    MAX_QUERY_CHARS,
    SweepForm,
    decode_share,
    encode_share,
    is_share_query,
    make_form,
    sweep_spec,
)
from variations.variants import load_library

SETTINGS = ServerSettings(
    models=("openai/a", LOCAL_MODEL), default_models=("openai/a",), max_cells=30
)
VARIANTS = {"polite", "hostile", "child"}


def form(**overrides: object) -> SweepForm:
    values: dict[str, object] = {
        "prompt": "Is coffee healthy? {really} & <b>sure</b>",
        "variants": ("polite", "hostile"),
        "models": ("openai/a", LOCAL_MODEL),
        "samples": 3,
        "temperature": 0.4,
        "max_tokens": 32,
    }
    values.update(overrides)
    return SweepForm.model_validate(values)


def decode(query: dict[str, str]) -> SweepForm:
    return decode_share(query, known_variants=VARIANTS, allowed_models=SETTINGS.models)


def test_a_link_round_trips_the_form() -> None:
    original = form()

    query = encode_share(original)

    assert query == {
        "prompt": original.prompt,
        "variants": "polite,hostile",
        "models": f"openai/a,{LOCAL_MODEL}",
        "samples": "3",
        "temperature": "0.4",
        "max_tokens": "32",
    }
    assert decode(query) == original


def test_a_link_holds_no_api_base_or_key() -> None:
    query = encode_share(form())

    assert set(query) == {
        "prompt",
        "variants",
        "models",
        "samples",
        "temperature",
        "max_tokens",
    }


def test_missing_numbers_take_defaults_and_streamlit_keys_are_allowed() -> None:
    restored = decode(
        {"prompt": "Hi", "variants": "child", "models": "openai/a", "embed": "true"}
    )

    assert (restored.samples, restored.temperature, restored.max_tokens) == (1, 0.7, 64)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            {
                "prompt": "Hi",
                "variants": "child",
                "models": "openai/a",
                "api_base": "http://evil.example/v1",
            },
            "settings the explorer does not take: 'api_base'",
        ),
        ({"prompt": "Hi", "variants": "child"}, "incomplete: it lacks models"),
        (
            {"prompt": "Hi", "variants": "child,telepathy", "models": "openai/a"},
            "names variants that are not in the variant library: 'telepathy'",
        ),
        (
            {"prompt": "Hi", "variants": "child", "models": "openai/gpt-5,openai/a"},
            "names models that are not in this server's models: 'openai/gpt-5'",
        ),
        (
            {"prompt": "Hi", "variants": "child", "models": "openai/a", "samples": "9"},
            "samples: Input should be less than or equal to 5",
        ),
        (
            {
                "prompt": "Hi",
                "variants": "child",
                "models": "openai/a",
                "temperature": "hot",
            },
            "temperature: Input should be a valid number",
        ),
        (
            {"prompt": "", "variants": "child", "models": "openai/a"},
            "prompt: String should have at least 1 character",
        ),
        (
            {
                "prompt": "x" * (MAX_QUERY_CHARS + 1),
                "variants": "child",
                "models": "openai/a",
            },
            "characters long; the limit is 4,000",
        ),
        (
            {"prompt": "Hi", "variants": ",", "models": "openai/a"},
            "variants: Tuple should have at least 1 item",
        ),
    ],
)
def test_bad_links_are_refused_with_a_reason(
    query: dict[str, str], message: str
) -> None:
    with pytest.raises(ShareLinkError) as raised:
        decode(query)

    assert message in str(raised.value)


def test_a_link_too_long_to_share_is_refused_when_encoding() -> None:
    long_form = form(prompt="é" * 2000)

    with pytest.raises(ShareLinkError, match="Shorten the prompt"):
        encode_share(long_form)
    assert len(urlencode({"prompt": long_form.prompt})) > MAX_QUERY_CHARS


def test_only_share_keys_make_a_share_query() -> None:
    assert is_share_query({"prompt": "x"})
    assert not is_share_query({"embed": "true"})
    assert not is_share_query({})


def test_the_spec_takes_its_api_base_from_the_server() -> None:
    spec = sweep_spec(form(), load_library(), api_base="http://127.0.0.1:1/v1")

    assert [variant.id for variant in spec.variants] == ["polite", "hostile"]
    assert spec.params.api_base == "http://127.0.0.1:1/v1"
    assert spec.params.seed == SEED
    assert (spec.samples, spec.params.temperature, spec.params.max_tokens) == (
        3,
        0.4,
        32,
    )


def make(**overrides: object) -> SweepForm:
    values: dict[str, object] = {
        "prompt": "Is coffee healthy?",
        "variants": ["polite"],
        "models": ["openai/a"],
        "samples": 1,
        "temperature": 0.7,
        "max_tokens": 64,
    }
    values.update(overrides)
    prompt = values.pop("prompt")
    variants = values.pop("variants")
    models = values.pop("models")
    return make_form(prompt, variants, models, settings=SETTINGS, **values)  # type: ignore[arg-type]


def test_make_form_keeps_a_good_form_without_repeats() -> None:
    made = make(variants=["polite", "child", "polite"], models=["openai/a"] * 2)

    assert made.variants == ("polite", "child")
    assert made.models == ("openai/a",)


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"prompt": "  "}, BadPromptError, "The prompt is empty"),
        (
            {"prompt": "x" * 2001},
            BadPromptError,
            "2,001 characters; the explorer takes up to 2,000",
        ),
        ({"variants": []}, ConfigurationError, "No variant is selected"),
        ({"models": []}, ConfigurationError, "No model is selected"),
        (
            {"models": ["openai/other"]},
            ConfigurationError,
            "does not offer openai/other",
        ),
        ({"samples": 6}, ConfigurationError, "between 1 and 5, got 6"),
        ({"temperature": 1.6}, ConfigurationError, "between 0 and 1.5, got 1.6"),
        ({"max_tokens": 0}, ConfigurationError, "between 1 and 1024, got 0"),
        (
            {
                "variants": ["polite", "child", "hostile"],
                "models": ["openai/a", LOCAL_MODEL],
                "samples": 5,
            },
            ConfigurationError,
            "would send 40 requests; this server allows 30",
        ),
    ],
)
def test_make_form_says_what_to_change(
    overrides: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        make(**overrides)

    assert message in str(raised.value)
