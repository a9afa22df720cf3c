"""Scrubbing secrets out of text that may reach a log, a cell or a page."""

from __future__ import annotations

import os
import re

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)
# Shapes of provider keys that can show up inside an upstream error message.
_KEY_SHAPES = re.compile(r"\b(sk-[A-Za-z0-9_\-]{8,}|AIza[0-9A-Za-z_\-]{20,})")
REDACTED = "[redacted]"


def secret_values() -> list[str]:
    """Values of environment variables whose names say they hold a secret."""
    return [
        value
        for name, value in os.environ.items()
        if _SECRET_NAME.search(name) and len(value) >= 6
    ]


def redact(text: str, extra: list[str] | None = None) -> str:
    """The text with every known secret value and key-shaped string masked."""
    for value in sorted([*secret_values(), *(extra or [])], key=len, reverse=True):
        if value:
            text = text.replace(value, REDACTED)
    return _KEY_SHAPES.sub(REDACTED, text)
