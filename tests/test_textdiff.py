from __future__ import annotations

import pytest

from variations.textdiff import Segment, count_changes, diff_markdown, word_diff

from .test_escaping import HOSTILE, displayed_text


def test_identical_answers_are_one_unchanged_run() -> None:
    assert word_diff("Coffee is fine.", "Coffee  is\nfine.") == [
        Segment("same", "Coffee is fine.")
    ]


def test_changed_words_are_removed_then_added() -> None:
    segments = word_diff(
        "Coffee is fine for most adults.", "Coffee is risky for most children."
    )

    assert segments == [
        Segment("same", "Coffee is"),
        Segment("removed", "fine"),
        Segment("added", "risky"),
        Segment("same", "for most"),
        Segment("removed", "adults."),
        Segment("added", "children."),
    ]
    assert count_changes(segments) == (2, 2)


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("", "", []),
        ("", "new words", [Segment("added", "new words")]),
        ("old words", "", [Segment("removed", "old words")]),
    ],
)
def test_empty_answers(before: str, after: str, expected: list[Segment]) -> None:
    assert word_diff(before, after) == expected


def test_markdown_marks_added_and_removed_words() -> None:
    markdown = diff_markdown(word_diff("Coffee is fine.", "Coffee is risky."))

    assert markdown == (
        "Coffee is :orange-background[~~fine\\.~~] :blue-background[**risky\\.**]"
    )


@pytest.mark.parametrize("hostile", HOSTILE)
def test_model_text_in_a_diff_never_acts_as_markdown(hostile: str) -> None:
    markdown = diff_markdown(word_diff("A calm answer.", f"A calm {hostile} answer."))
    # Our own marks are Streamlit directives; unwrap them to read what shows.
    # Escaped model text holds no bare "**]", so only our marks match.
    unwrapped = markdown.replace(":blue-background[**", "").replace("**]", "")

    shown = displayed_text(unwrapped)

    assert shown == " ".join(f"A calm {hostile} answer.".split())
