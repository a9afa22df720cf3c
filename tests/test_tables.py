from __future__ import annotations

from variations.summary import variant_labels
from variations.tables import ERROR_MARK, answers_frame, arrivals_frame, clip

from .results import make_result


def test_answers_start_with_the_original_then_by_shift() -> None:
    result = make_result(models=("model-a",))

    frame = answers_frame(result, variant_labels(result))

    assert list(frame.columns) == ["Variant", "Model", "Shift", "Answer"]
    assert frame["Variant"].iloc[0] == "Original"
    assert frame["Shift"].iloc[0] == 0.0
    assert list(frame["Shift"].iloc[1:]) == sorted(
        frame["Shift"].iloc[1:], reverse=True
    )


def test_failed_cells_show_their_error_in_place() -> None:
    result = make_result(
        samples=2, fail=lambda r: "rate limited" if r.model == "model-b" else None
    )

    frame = answers_frame(result, variant_labels(result))

    failed = frame[frame["Model"] == "model-b"]
    assert "Sample" in frame.columns
    assert set(failed["Answer"]) == {ERROR_MARK + "rate limited"}
    assert failed["Shift"].isna().all()


def test_arrivals_are_newest_first_and_clipped() -> None:
    result = make_result(models=("model-a",))
    labels = variant_labels(result)

    frame = arrivals_frame(result.completions[:2], labels)

    assert list(frame["Variant"]) == ["Polite", "Original"]


def test_clip_flattens_and_cuts() -> None:
    assert clip("one\n two   three", 20) == "one two three"
    assert clip("abcdefghij", 5) == "abcd…"
