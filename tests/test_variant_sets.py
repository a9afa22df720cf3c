from __future__ import annotations

import pytest

from variations.errors import VariantFileError
from variations.variant_sets import dump_variant_set, load_variant_set
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
