from __future__ import annotations

from pathlib import Path

import pytest

from variations.errors import (
    BadPromptError,
    ConfigurationError,
    UnknownVariantError,
    VariantFileError,
)
from variations.records import BASELINE_ID
from variations.variants import (
    BASELINE,
    Variant,
    check_prompt,
    load_library,
    render_all,
)

REQUIRED_CATEGORIES = {
    "tone",
    "framing",
    "persona",
    "emotion",
    "format",
    "perturbation",
}

GOOD_ENTRY = """\
  - id: {id}
    label: Label
    description: Does a thing.
    template: "Please: {{prompt}}"
    intent: keep
"""


def write_category(folder: Path, name: str, entries: str, header: str = "") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(
        f"category: {name}\nlabel: {name.title()}\ndescription: About {name}.\n"
        f"{header}variants:\n{entries}",
        encoding="utf-8",
    )
    return path


def test_builtin_library_is_rich_and_well_formed() -> None:
    library = load_library()

    categories = {category.id for category in library.categories}
    assert categories >= REQUIRED_CATEGORIES
    assert len(library.variants) >= 24
    for category in REQUIRED_CATEGORIES:
        assert len(library.in_category(category)) >= 3, category
    assert {variant.intent for variant in library.variants} == {"keep", "reframe"}
    ids = [variant.id for variant in library.variants]
    assert len(ids) == len(set(ids))


def test_every_builtin_variant_renders_the_prompt() -> None:
    prompt = "Is it safe to swim after eating?"
    for variant in load_library().select("all"):
        text = variant.render(prompt)
        assert text.strip(), variant.id
        if variant.transform is None:
            assert prompt in text, variant.id


@pytest.mark.parametrize(
    "prompt",
    [
        "Explain {prompt} and {0} and {name!r}",
        "She said \"hi\" and 'bye'",
        "{{ jinja }} {% if x %} $var ${HOME} %s %(x)s",
        "Back\\slash \\n and unicode: café, 東京, 🙂",
    ],
)
def test_user_prompts_are_inserted_literally(prompt: str) -> None:
    library = load_library()
    for variant in library.select("all"):
        if variant.transform is None:
            head, _, tail = variant.template.partition("{prompt}")
            assert variant.render(prompt) == head + prompt + tail


@pytest.mark.parametrize(
    ("transform", "prompt", "expected"),
    [
        ("uppercase", "Why is the sky blue?", "WHY IS THE SKY BLUE?"),
        ("lowercase", "Why Is The Sky Blue?", "why is the sky blue?"),
        ("no_punctuation", "Why, is the sky blue?!", "Why is the sky blue"),
        ("repeat", "Why?", "Why? Why?"),
    ],
)
def test_transforms(transform: str, prompt: str, expected: str) -> None:
    variant = Variant("v", "V", "perturbation", "d", "{prompt}", "keep", transform)  # type: ignore[arg-type]
    assert variant.render(prompt) == expected


def test_typos_are_stable_and_visible() -> None:
    variant = Variant("t", "T", "perturbation", "d", "{prompt}", "keep", "typos")
    prompt = "What is the best way to learn a new language quickly?"

    first, second = variant.render(prompt), variant.render(prompt)

    assert first == second
    assert first != prompt
    assert abs(len(first) - len(prompt)) <= len(prompt) // 10


def test_baseline_comes_first_and_is_the_prompt_itself() -> None:
    library = load_library()
    rendered = render_all("Hello?", library.select("tone"))

    assert rendered[0] == (BASELINE, "Hello?")
    assert rendered[0][0].id == BASELINE_ID
    assert all(variant.category == "tone" for variant, _ in rendered[1:])


@pytest.mark.parametrize(
    ("selector", "expected"),
    [("all", None), ("tone", "tone"), ("  framing ", "framing")],
)
def test_select_by_all_or_category(selector: str, expected: str | None) -> None:
    library = load_library()
    chosen = library.select(selector)
    if expected is None:
        assert chosen == tuple(v for v in library.variants if not v.is_rewrite)
        assert len(chosen) >= 24
    else:
        assert chosen and {v.category for v in chosen} == {expected}


def test_select_by_ids_keeps_order_and_drops_repeats() -> None:
    library = load_library()
    first, second = library.variants[3].id, library.variants[0].id

    chosen = library.select(f"{first}, {second},{first}")

    assert [v.id for v in chosen] == [first, second]


@pytest.mark.parametrize(
    ("selector", "message"),
    [
        ("no_such_variant", "Unknown variant 'no_such_variant'. Known ids: "),
        (",", "No variants selected: give `all`, a category"),
    ],
)
def test_select_unknown(selector: str, message: str) -> None:
    with pytest.raises(UnknownVariantError) as caught:
        load_library().select(selector)
    assert str(caught.value).startswith(message)


def test_unknown_category_names_the_known_ones() -> None:
    with pytest.raises(
        UnknownVariantError, match="Unknown category 'tones'. Known categories: "
    ):
        load_library().check_category("tones")


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            GOOD_ENTRY.format(id="ok") + "    colour: red\n",
            "variant 'ok': unknown key 'colour'",
        ),
        (
            "  - id: no_label\n    description: d\n    template: '{prompt}'\n    intent: keep\n",
            "variant 'no_label': missing field 'label'",
        ),
        (
            "  - id: no_slot\n    label: L\n    description: d\n    template: 'Hi there'\n    intent: keep\n",
            "variant 'no_slot': template: Value error, template must contain {prompt} exactly once (found 0)",
        ),
        (
            "  - id: bad_intent\n    label: L\n    description: d\n    template: '{prompt}'\n    intent: maybe\n",
            "variant 'bad_intent': intent:",
        ),
        (
            "  - id: Bad-Id\n    label: L\n    description: d\n    template: '{prompt}'\n    intent: keep\n",
            "variant 'Bad-Id': id: Value error, id 'Bad-Id' must be lowercase",
        ),
        (
            "  - id: both\n    label: L\n    description: d\n    template: '{prompt}'\n"
            "    instruction: Say it angrily.\n    intent: keep\n",
            "variant 'both': (top level): Value error, a variant with an instruction "
            "is written by a model: drop its template and transform",
        ),
        (
            "  - id: blank\n    label: L\n    description: d\n    instruction: ' '\n"
            "    intent: keep\n",
            "variant 'blank': (top level): Value error, instruction must be a "
            "non-empty text",
        ),
    ],
)
def test_malformed_variants_name_file_and_id(
    tmp_path: Path, entries: str, message: str
) -> None:
    path = write_category(tmp_path, "tone", entries)

    with pytest.raises(VariantFileError) as caught:
        load_library(tmp_path)

    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write_category(
        tmp_path, "tone", GOOD_ENTRY.format(id="a"), header="colour: red\n"
    )

    with pytest.raises(VariantFileError, match="unknown key 'colour'") as caught:
        load_library(tmp_path)
    assert str(path) in str(caught.value)


def test_duplicate_ids_across_files_name_both_files(tmp_path: Path) -> None:
    first = write_category(tmp_path, "alpha", GOOD_ENTRY.format(id="twin"))
    second = write_category(tmp_path, "beta", GOOD_ENTRY.format(id="twin"))

    with pytest.raises(VariantFileError) as caught:
        load_library(tmp_path)

    assert str(caught.value) == (
        f"{second}: variant id 'twin' is already defined in {first}. "
        "Give each variant a unique id."
    )


def test_invalid_yaml_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(VariantFileError, match="No variant files"):
        load_library(tmp_path)
    (tmp_path / "broken.yaml").write_text("category: [unclosed\n")
    with pytest.raises(VariantFileError, match="broken.yaml: not valid YAML"):
        load_library(tmp_path)


def test_yaml_tags_cannot_build_python_objects(tmp_path: Path) -> None:
    (tmp_path / "evil.yaml").write_text("!!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(VariantFileError, match="evil.yaml: not valid YAML"):
        load_library(tmp_path)


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("", "The prompt is empty"),
        (" \t\n", "The prompt is empty"),
        ("a" * 8001, "The prompt has 8,001 characters; the limit is 8,000."),
    ],
)
def test_bad_prompts(prompt: str, message: str) -> None:
    with pytest.raises(BadPromptError, match=message):
        check_prompt(prompt)
    assert check_prompt("a" * 8000)


def test_a_model_written_variant_has_no_text_until_written() -> None:
    library = load_library()
    angry = library.get("angry_customer")

    assert angry.is_rewrite and angry.category == "rewrite"
    assert angry not in library.select("all")
    assert library.select("rewrite")
    with pytest.raises(ConfigurationError, match="'angry_customer' is written by a"):
        angry.render("Why?")
    assert render_all("Why?", [angry]) == [(BASELINE, "Why?")]
    assert render_all("Why?", [angry], written={"angry_customer": "WHY?!"}) == [
        (BASELINE, "Why?"),
        (angry, "WHY?!"),
    ]
