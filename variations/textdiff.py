"""Word-level differences between two answers, as segments and as safe Markdown.

The diff works on words, so a change of spacing or line breaks is no change.
Every word is escaped before it reaches Markdown (see escaping.py); added words
are bold on a blue ground, removed ones struck through on an orange ground, so
the marks read without colour too.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .escaping import escape_markdown

SegmentKind = Literal["same", "added", "removed"]
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Segment:
    """A run of words that both answers share, or that one of them alone has."""

    kind: SegmentKind
    text: str


def word_diff(before: str, after: str) -> list[Segment]:
    """The words of `after` against `before`: kept, added and removed runs."""
    old_words = _WORD.findall(before)
    new_words = _WORD.findall(after)
    matcher = difflib.SequenceMatcher(a=old_words, b=new_words, autojunk=False)

    segments: list[Segment] = []
    for tag, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        if tag == "equal":
            segments.append(Segment("same", " ".join(new_words[new_start:new_end])))
            continue
        if old_end > old_start:
            segments.append(Segment("removed", " ".join(old_words[old_start:old_end])))
        if new_end > new_start:
            segments.append(Segment("added", " ".join(new_words[new_start:new_end])))
    return segments


def count_changes(segments: Sequence[Segment]) -> tuple[int, int]:
    """How many words were added and how many removed."""
    added = sum(len(s.text.split()) for s in segments if s.kind == "added")
    removed = sum(len(s.text.split()) for s in segments if s.kind == "removed")
    return added, removed


def diff_markdown(segments: Sequence[Segment]) -> str:
    """The diff as Markdown in which only our own marks are Markdown."""
    return " ".join(_mark(segment) for segment in segments if segment.text)


def _mark(segment: Segment) -> str:
    text = escape_markdown(segment.text)
    if segment.kind == "added":
        return f":blue-background[**{text}**]"
    if segment.kind == "removed":
        return f":orange-background[~~{text}~~]"
    return text
