"""Showing untrusted text (model answers) in Markdown without it acting as Markdown.

Every ASCII punctuation character may be backslash-escaped in CommonMark, and an
escaped character is always shown literally: no link, emphasis, HTML, math,
colour directive or emoji code survives. Line breaks are kept as hard breaks and
leading indentation is dropped, so no line turns into a code block.

GitHub-flavoured Markdown also turns bare URLs and e-mail addresses into links
after escapes are resolved, so a zero-width space is slipped into each: the
text reads the same and links nowhere.
"""

from __future__ import annotations

import re
import string

_PUNCTUATION = re.compile("([" + re.escape(string.punctuation) + "])")
# What GFM's autolink-literal extension starts a link at: a scheme or www.
# followed by its punctuation, and the @ of an e-mail address.
_AUTOLINK_START = re.compile(r"(?i)(https?|ftp|mailto|xmpp|www)(?=[:.])|(?=@)")
_ZERO_WIDTH_SPACE = "\u200b"
_HARD_BREAK = "  \n"


def escape_markdown(text: str) -> str:
    """The text with every Markdown-significant character escaped, on one line."""
    unlinked = _AUTOLINK_START.sub(
        lambda match: match.group(0) + _ZERO_WIDTH_SPACE, " ".join(text.split())
    )
    return _PUNCTUATION.sub(r"\\\1", unlinked)


def escape_markdown_lines(text: str) -> str:
    """Like escape_markdown, but each line of the text stays a line."""
    lines = [escape_markdown(line) for line in text.splitlines()]
    return _HARD_BREAK.join(line if line else "\u00a0" for line in lines)
