"""Sweep plan files: parsing, refusing typos, resolving variants."""

from __future__ import annotations

from pathlib import Path

import pytest

from variations.errors import ConfigurationError, VariantFileError
from variations.sweep_plan import MAX_PLAN_BYTES, load_plan, parse_plan
from variations.variant_sets import dump_variant_set
from variations.variants import load_library

EXAMPLES = sorted(Path(__file__).parent.parent.joinpath("prompts/sweeps").glob("*"))
MINIMAL = """
name: t
prompts: [Why is the sky blue?, Is tea good?]
variants: polite,hostile
models: [openai/a, {name: openai/b, temperature: 0.2, max_tokens: 9}]
samples: 2
seed: 5
"""


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_every_example_plan_loads(path: Path) -> None:
    resolved = load_plan(path)

    assert resolved.variants and resolved.specs()


def test_example_plan_is_small_and_local() -> None:
    plan = load_plan(EXAMPLES[0].parent / "example.yaml").plan

    assert [model.name for model in plan.models] == ["local/smollm2-135m"]
    assert len(plan.prompts) == 2 and plan.samples == 3
    assert plan.models[0].max_tokens <= 16


def test_plain_prompts_and_models_are_expanded() -> None:
    resolved = parse_plan(MINIMAL)

    specs = resolved.specs()
    assert [prompt_id for prompt_id, _ in specs] == ["p1", "p1", "p2", "p2"]
    second = specs[1][1]
    assert second.models == ("openai/b",)
    assert (second.params.temperature, second.params.max_tokens) == (0.2, 9)
    assert second.params.seed == 5 and second.samples == 2
    assert [variant.id for variant in resolved.variants] == ["polite", "hostile"]
    assert resolved.as_data()["variant_ids"] == ["polite", "hostile"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MINIMAL + "sampels: 3\n", "field sampels: unknown field; check its spelling"),
        (
            MINIMAL.replace("max_tokens: 9", "max_tokns: 9"),
            "field models.1.max_tokns: unknown field",
        ),
        (MINIMAL.replace("samples: 2", "samples: 0"), "field samples: "),
        (MINIMAL + "version: 9\n", "version 9 is not supported"),
        (
            MINIMAL.replace("Is tea good?", "Why is the sky blue?"),
            "prompt texts must be distinct",
        ),
        (
            MINIMAL.replace(
                "[Why is the sky blue?, Is tea good?]", "[{id: all, text: x}]"
            ),
            "'all' (kept for pooled rows)",
        ),
        (
            MINIMAL.replace("max_tokens: 9", "api_base: 'http://u:secret@h/v1'"),
            "api_base must not carry a password",
        ),
        ("- just a list\n", "must be a YAML mapping"),
        ("name: [unclosed\n", "is not valid YAML"),
    ],
)
def test_bad_plans_name_the_field(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match="^sweep plan") as caught:
        parse_plan(text)

    assert message in str(caught.value)


def test_plan_file_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(MINIMAL + "seeed: 1\n")

    with pytest.raises(ConfigurationError) as caught:
        load_plan(path)

    assert str(caught.value).startswith(f"{path}: field seeed: unknown field")


def test_unknown_variant_is_refused() -> None:
    with pytest.raises(Exception, match="Unknown variant 'nope'"):
        parse_plan(MINIMAL.replace("polite,hostile", "[polite, nope]"))


def test_variants_from_a_variant_set_file(tmp_path: Path) -> None:
    chosen = load_library().select("polite,child")
    (tmp_path / "mine.yaml").write_text(dump_variant_set(chosen))
    plan = tmp_path / "plan.yaml"
    plan.write_text(MINIMAL.replace("polite,hostile", "mine.yaml"))

    assert load_plan(plan).variants == chosen


def test_bad_variant_set_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("variants: [{id: x}]\n")
    plan = tmp_path / "plan.yaml"
    plan.write_text(MINIMAL.replace("polite,hostile", "bad.yaml"))

    with pytest.raises(VariantFileError):
        load_plan(plan)


def test_oversized_and_missing_files_are_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("#" * (MAX_PLAN_BYTES + 1))

    with pytest.raises(ConfigurationError, match="the limit is 1,000,000"):
        load_plan(big)
    with pytest.raises(ConfigurationError, match="No sweep plan at"):
        load_plan(tmp_path / "missing.yaml")
