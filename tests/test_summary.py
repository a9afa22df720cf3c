from __future__ import annotations

import pytest

from variations.rewrites import Rewrite
from variations.significance import analyse_sweep, can_decide
from variations.summary import (
    FEW_SAMPLES_NOTE,
    SAMPLES_NOTE,
    describe_shift,
    headline,
)

from .results import ANGRY, HOSTILE, POLITE, make_result


def test_headline_names_the_variant_and_model_that_moved_most() -> None:
    line = headline(make_result(models=("model-a",)))

    assert (line.model, line.variant_id) == ("model-a", "hostile")
    assert line.shift is not None and line.shift > 0.3
    assert line.text.startswith(
        "The “Hostile” version moved model-a's answer the most: "
    )
    assert f"a shift of {line.shift:.2f} where 0 is the same meaning." in line.text
    assert line.note == SAMPLES_NOTE
    assert line.noise_floor is None


def test_with_samples_the_headline_compares_with_re_asking() -> None:
    line = headline(make_result(models=("model-a",), samples=3))

    assert line.noise_floor is not None and 0 < line.noise_floor < line.shift  # type: ignore[operator]
    ratio = line.shift / line.noise_floor  # type: ignore[operator]
    assert (
        f"{ratio:.1f} times what simply re-asking the same prompt moves it" in line.text
    )
    assert line.note is None


def test_a_shift_within_the_noise_is_called_so() -> None:
    def answer(request):  # type: ignore[no-untyped-def]
        # Each sample says something else; each variant repeats the original.
        return ["apples and pears", "rockets to the stars"][request.sample]

    line = headline(make_result(models=("model-a",), samples=2, answer=answer))

    assert "within the noise" in line.text


def test_identical_repeats_have_no_noise() -> None:
    def answer(request):  # type: ignore[no-untyped-def]
        return "same" if request.variant_id == "original" else "other words"

    line = headline(make_result(models=("model-a",), samples=2, answer=answer))

    assert line.text.endswith(
        "re-asking the same prompt gave the same answer every time."
    )


def test_when_nothing_answered() -> None:
    line = headline(make_result(fail=lambda request: "down"))

    assert line.text.startswith("No model answered")
    assert line.model is None


def test_when_the_original_prompt_failed() -> None:
    line = headline(
        make_result(fail=lambda r: "down" if r.variant_id == "original" else None)
    )

    assert line.text.startswith("The original prompt got no answer")


@pytest.mark.parametrize(
    ("shift", "words"),
    [
        (0.0, "barely a change"),
        (0.1, "a slight change"),
        (0.2, "a clear change"),
        (0.9, "a strong change"),
    ],
)
def test_sizes_in_words(shift: float, words: str) -> None:
    assert describe_shift(shift) == words


def noisy(request):  # type: ignore[no-untyped-def]
    # Every sample says something else; no variant adds anything to that.
    return ["apples and pears", "rockets to the stars", "a b c", "dogs bark"][
        request.sample
    ]


def test_when_no_shift_stands_clear_of_the_noise_the_headline_says_so() -> None:
    result = make_result(samples=4, answer=noisy)

    line = headline(result, analyse_sweep(result))

    assert line.text == (
        "None of the variants moved model-a's or model-b's answer more than "
        "re-asking the same prompt does."
    )
    assert line.note is not None and line.note.startswith("The largest shift was")


def test_a_significant_shift_is_named_with_the_count_of_clear_shifts() -> None:
    result = make_result(models=("model-a",), samples=4)

    line = headline(result, analyse_sweep(result))

    assert line.variant_id == "hostile"
    assert "times what simply re-asking the same prompt moves it" in line.text
    assert line.note == (
        "3 of 3 shifts stand clear of the noise in a permutation test "
        "(p < 0.05, corrected for testing many variants at once)."
    )


@pytest.mark.parametrize(
    ("samples", "decides"), [(1, False), (2, False), (3, False), (4, True)]
)
def test_four_samples_are_needed_to_decide(samples: int, decides: bool) -> None:
    assert can_decide(samples) is decides


def test_with_too_few_samples_to_test_the_headline_says_so() -> None:
    result = make_result(models=("model-a",), samples=2)

    line = headline(result, analyse_sweep(result))

    assert line.note == FEW_SAMPLES_NOTE.format(samples=2)


def test_a_drifted_rewrite_is_flagged_and_never_named_in_the_headline() -> None:
    drifted = Rewrite(
        "Is coffee healthy?", "angry", "m", "Bananas?", similarity=0.1, drifted=True
    )
    result = make_result(
        variants=(POLITE, HOSTILE, ANGRY), models=("model-a",), rewrites=(drifted,)
    )

    line = headline(result)

    shifts = {shift.variant_id: shift.shift for shift in result.shifts}
    assert shifts["angry"] > shifts["hostile"]  # the largest, but not trusted
    assert line.variant_id == "hostile"
    assert line.note is not None and line.note.endswith(
        "Left out as drifted from the prompt's meaning (model-written): "
        "“Angry (drifted)”."
    )
    row = next(row for row in result.rows() if row["variant"] == "angry")
    assert (row["drifted"], row["meaning_similarity"], row["rewrite_model"]) == (
        True,
        0.1,
        "m",
    )
