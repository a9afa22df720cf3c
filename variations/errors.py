"""Every error the library raises on purpose, under one base class.

VariationsError
├── VariantFileError        a prompts/ file is malformed (names file and variant)
├── UnknownVariantError     a variant id or category that no library defines
├── BadPromptError          an empty or over-long prompt
├── ConfigurationError      a bad option value (concurrency, output path, ...)
├── UnknownModelError       a model name litellm cannot route
├── MissingKeyError         a provider's API key is not in the environment
├── ApiBaseUnreachableError an --api-base nothing listens on
├── ShareLinkError          a share link (URL query) that cannot be restored
└── ModelCallError          one call to a model failed (recorded on its cell)
    └── TransientModelError a failure worth retrying (rate limit, 5xx, timeout)
"""

from __future__ import annotations


class VariationsError(Exception):
    """Base class of every error this library raises on purpose."""


class VariantFileError(VariationsError):
    """A variant library file is malformed."""


class UnknownVariantError(VariationsError, KeyError):
    """A variant id or category that no loaded library defines."""

    def __str__(self) -> str:
        # KeyError would quote the whole message; show it as written.
        return str(self.args[0]) if self.args else ""


class BadPromptError(VariationsError, ValueError):
    """The prompt is empty or too long."""


class ConfigurationError(VariationsError, ValueError):
    """An option has a value the library cannot use."""


class UnknownModelError(VariationsError, KeyError):
    """litellm does not know how to route this model name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MissingKeyError(VariationsError):
    """The environment lacks the API key a provider needs."""


class ApiBaseUnreachableError(VariationsError):
    """Nothing answers at the given API base URL."""


class ShareLinkError(VariationsError, ValueError):
    """A share link's query is malformed, too long, or names unknown things."""


class ModelCallError(VariationsError):
    """One call to a model failed; the sweep records it on that cell."""

    def __init__(self, model: str, message: str) -> None:
        super().__init__(f"{model}: {message}")
        self.model = model


class TransientModelError(ModelCallError):
    """A failure worth retrying: rate limit, server error, timeout."""
