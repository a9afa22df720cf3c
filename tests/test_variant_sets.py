from __future__ import annotations

from pathlib import Path

import pytest

from variations.errors import VariantFileError
from variations.variant_sets import (
    CUSTOM_CATEGORY,
    VariantSetStore,
    dump_variant_set,
    load_variant_set,
    make_variant,
    variant_sets_dir,
    with_variant_set,
)
from variations.variants import load_library


def test_a_saved_set_reads_back_identical() -> None:
    library = load_library()
    chosen = library.select("polite,typos,false_premise")

    text = dump_variant_set(chosen)

    assert text.startswith("# A variant set saved from the Prompt Variations explorer.")
    assert "template: |-\n" in text  # multi-line templates stay readable
    assert load_variant_set(text) == chosen


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("variants: [{id: a}]", "Field required"),
        ("variants: []\nextra: 1", "Extra inputs are not permitted"),
        (
            "variants:\n- {id: a, label: A, category: c, description: d, "
            "template: '{prompt} {prompt}', intent: keep}",
            "exactly once",
        ),
        ("variants: [", "Not a valid variant set"),
    ],
)
def test_bad_sets_are_refused(text: str, message: str) -> None:
    with pytest.raises(VariantFileError, match=message):
        load_variant_set(text)


ENTRY = "  - id: a\n    label: A\n    description: d\n    template: '{prompt}'\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "version: 1\nvariants:\n"
            + ENTRY.replace("'{prompt}'", "no placeholder")
            + "    intent: keep\n",
            "mine.yaml, line 6: variants[0].template: template must contain "
            "{prompt} exactly once",
        ),
        (
            "variants:\n" + ENTRY + "    intent: keep\n    evil: 1\n",
            "mine.yaml, line 7: variants[0].evil: Extra inputs are not permitted",
        ),
        (
            "variants:\n" + ENTRY + "    intent: maybe\n",
            "mine.yaml, line 6: variants[0].intent: Input should be 'keep' or "
            "'reframe'",
        ),
        (
            "variants:\n"
            + ENTRY.replace("label: A", "label: 3")
            + "    intent: keep\n",
            "mine.yaml, line 3: variants[0].label: Input should be a valid string",
        ),
        ("version: 2\nvariants: []\n", "mine.yaml, line 1: version: Input should be 1"),
        ("a: &x [1, 2]\nb: *x\n", "YAML anchors and aliases are not allowed"),
        (
            "variants: !!python/object/apply:os.system ['ls']\n",
            "mine.yaml, line 1: not valid YAML: could not determine a constructor",
        ),
        ("- 1\n", "line 1: (top level): expected a mapping with the keys version"),
        ("x" * 70_000, "mine.yaml is 70,000 bytes; variant sets are capped at 64,000"),
        (b"\xff\xfe", "mine.yaml is not UTF-8 text"),
        (
            "variants:\n" + ENTRY + "    intent: keep\n" + ENTRY + "    intent: keep\n",
            "mine.yaml, line 7: variants[1].id: 'a' is used twice",
        ),
    ],
)
def test_a_hostile_or_malformed_file_names_file_line_and_field(
    text: str | bytes, message: str
) -> None:
    with pytest.raises(VariantFileError) as caught:
        load_variant_set(text, source="mine.yaml")

    assert message in str(caught.value)


def test_a_custom_variant_needs_no_category_and_gets_custom() -> None:
    text = "variants:\n" + ENTRY + "    intent: keep\n"

    (variant,) = load_variant_set(text)

    assert variant.category == CUSTOM_CATEGORY
    assert variant.render("Hi") == "Hi"


def test_make_variant_names_every_bad_field() -> None:
    with pytest.raises(VariantFileError) as caught:
        make_variant(
            id="Bad Id", label="", description="", template="no", intent="keep"
        )

    message = str(caught.value)
    assert message.startswith("This variant is not valid: id: use lowercase")
    assert "label: String should have at least 1 character" in message
    assert "template: template must contain {prompt} exactly once" in message


def test_a_store_saves_lists_and_loads_sets(tmp_path: Path) -> None:
    store = VariantSetStore(variant_sets_dir(tmp_path))
    custom = make_variant(
        id="pirate",
        label="Pirate",
        description="Arr.",
        template="Arr! {prompt}",
        intent="keep",
    )
    chosen = (*load_library().select("polite"), custom)

    store.save("my-set", chosen)

    assert store.names() == ["my-set"]
    assert store.load("my-set") == chosen
    with pytest.raises(VariantFileError, match="is not allowed"):
        store.save("../escape", chosen)
    with pytest.raises(VariantFileError, match="No variant set named 'nope'"):
        store.load("nope")


def test_a_set_adds_its_own_variants_to_the_library() -> None:
    library = load_library()
    custom = make_variant(
        id="pirate",
        label="Pirate",
        description="",
        template="Arr {prompt}",
        intent="keep",
    )

    merged = with_variant_set(library, [library.get("polite"), custom], name="s")

    assert merged.get("pirate") == custom
    assert merged.categories[-1].label == "Custom: s"
    assert len(merged.variants) == len(library.variants) + 1
    clash = make_variant(
        id="polite", label="P", description="", template="{prompt}!", intent="keep"
    )
    with pytest.raises(VariantFileError, match="differs from the built-in variant"):
        with_variant_set(library, [clash], name="s")
