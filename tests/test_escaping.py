from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from variations.escaping import escape_markdown, escape_markdown_lines

# CommonMark with the GFM tables and strikethrough (linkify is not installed:
# bare-URL autolinks are checked in the real browser test instead).
MARKDOWN = MarkdownIt("commonmark").enable(["strikethrough", "table"])
HOSTILE = [
    "<script>alert(1)</script>",
    "**bold** [x](javascript:alert(1))",
    "![img](http://evil.example/x.png) <img src=x onerror=alert(1)>",
    "$E=mc^2$ and :red[coloured] and :smile: and :material/home:",
    "https://evil.example and www.evil.example and <http://evil.example>",
    "# heading\n    indented code\n1. list\n- item\n> quote\n---\n| a | b |\n|---|---|",
    "`code` ```fence``` _emph_ ~~strike~~ \\escaped\\ &amp; &#60;",
]
# Tags that would mean some of the text acted as Markdown or HTML.
_ACTIVE_TAGS = re.compile(r"<(?!/?(p|br)\b)[a-z/][^>]*>", re.IGNORECASE)


def displayed_text(markdown: str) -> str:
    rendered = MARKDOWN.render(markdown)
    assert not _ACTIVE_TAGS.search(rendered), rendered
    text = html.unescape(re.sub(r"<[^>]+>", " ", rendered))
    visible = text.replace("\u00a0", " ").replace("\u200b", "")
    return " ".join(visible.split())


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_shows_literally_on_one_line(text: str) -> None:
    assert displayed_text(escape_markdown(text)) == " ".join(text.split())


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_lines_show_literally_and_keep_their_breaks(text: str) -> None:
    escaped = escape_markdown_lines(text)

    assert displayed_text(escaped) == " ".join(text.split())
    assert escaped.count("  \n") == text.count("\n")


@pytest.mark.parametrize(
    ("text", "broken"),
    [
        ("see https://evil.example now", "https\u200b\\:"),
        ("HTTP://EVIL.EXAMPLE", "HTTP\u200b\\:"),
        ("www.evil.example", "www\u200b\\."),
        ("mail me@evil.example", "me\u200b\\@"),
        ("ftp://x and mailto:x", "mailto\u200b\\:"),
    ],
)
def test_bare_urls_and_addresses_are_broken_invisibly(text: str, broken: str) -> None:
    # GFM links these after escapes are resolved; a zero-width space stops it.
    assert broken in escape_markdown(text)


def test_words_that_merely_contain_www_or_http_are_left_alone() -> None:
    assert escape_markdown("wwwx httpd") == "wwwx httpd"


def test_plain_text_and_unicode_pass_through() -> None:
    assert escape_markdown("Café au lait — naïve 😊") == "Café au lait — naïve 😊"


def test_blank_lines_stay_visible_as_breaks() -> None:
    assert escape_markdown_lines("one\n\ntwo") == "one  \n\u00a0  \ntwo"
