"""What this server offers the browser: its models, limits and defaults.

The operator configures models through the environment; a visitor can only pick
among them. The API base is server-side only: a public page must never let a
browser point the server at an address of its choosing.

    VARIATIONS_MODELS     comma-separated litellm names, e.g. openai/gpt-4o-mini
    VARIATIONS_API_BASE   an OpenAI-compatible server for those models
    VARIATIONS_MAX_CELLS  the most requests one sweep may send (default 400)
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import ConfigurationError
from .providers import LOCAL_MODEL

MODELS_ENV = "VARIATIONS_MODELS"
API_BASE_ENV = "VARIATIONS_API_BASE"
MAX_CELLS_ENV = "VARIATIONS_MAX_CELLS"
REWRITE_MODEL_ENV = "VARIATIONS_REWRITE_MODEL"

# The embedded model makes about 8 tokens/s alone on 2 cores: 64 tokens keeps
# a public demo's answers to seconds, and is enough to show a change of tone.
LOCAL_MAX_TOKENS = 64
REMOTE_MAX_TOKENS = 256
MAX_TOKENS_LIMIT = 1024
MAX_SAMPLES = 5
MAX_TEMPERATURE = 1.5
DEFAULT_TEMPERATURE = 0.7
DEFAULT_MAX_CELLS = 400
# A fixed seed makes a sweep replayable: sample i is sent with seed SEED + i.
SEED = 0

_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,119}")


@dataclass(frozen=True)
class ServerSettings:
    """The models a visitor may choose, and where remote ones are reached."""

    models: tuple[str, ...]
    default_models: tuple[str, ...]
    api_base: str | None = None
    max_cells: int = DEFAULT_MAX_CELLS
    rewrite_model: str = LOCAL_MODEL

    @property
    def default_max_tokens(self) -> int:
        if LOCAL_MODEL in self.default_models:
            return LOCAL_MAX_TOKENS
        return REMOTE_MAX_TOKENS


def load_settings(environ: Mapping[str, str] | None = None) -> ServerSettings:
    """Read the server's settings from the environment (default: os.environ)."""
    environ = os.environ if environ is None else environ
    configured = parse_models(environ.get(MODELS_ENV, ""))
    api_base = _check_api_base(environ.get(API_BASE_ENV, "").strip() or None)
    max_cells = _parse_max_cells(environ.get(MAX_CELLS_ENV, ""))

    models = (*configured, LOCAL_MODEL) if LOCAL_MODEL not in configured else configured
    rewrite_model = environ.get(REWRITE_MODEL_ENV, "").strip() or LOCAL_MODEL
    if rewrite_model not in models:
        raise ConfigurationError(
            f"{REWRITE_MODEL_ENV} is {rewrite_model!r}, which this server does not "
            f"offer; name one of {', '.join(models)}."
        )
    return ServerSettings(
        models=models,
        default_models=configured or (LOCAL_MODEL,),
        api_base=api_base,
        max_cells=max_cells,
        rewrite_model=rewrite_model,
    )


def parse_models(value: str) -> tuple[str, ...]:
    """Model names from a comma-separated list, checked and without repeats."""
    names = [part.strip() for part in value.split(",") if part.strip()]
    for name in names:
        if not _MODEL_NAME.fullmatch(name):
            raise ConfigurationError(
                f"{MODELS_ENV} holds {name!r}, which is not a litellm model name; "
                "expected names like openai/gpt-4o-mini, separated by commas."
            )
    return tuple(dict.fromkeys(names))


def _check_api_base(api_base: str | None) -> str | None:
    if api_base is None:
        return None
    parts = urlsplit(api_base)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigurationError(
            f"{API_BASE_ENV} must be an http(s) URL such as "
            "http://127.0.0.1:8000/v1; the value set is not one."
        )
    return api_base


def _parse_max_cells(value: str) -> int:
    if not value.strip():
        return DEFAULT_MAX_CELLS
    try:
        max_cells = int(value)
    except ValueError:
        max_cells = 0
    if max_cells < 1:
        raise ConfigurationError(
            f"{MAX_CELLS_ENV} must be a whole number of requests, at least 1; "
            f"got {value!r}."
        )
    return max_cells
