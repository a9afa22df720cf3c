"""Prompt Variations explorer: how the tone and framing of a prompt steer models.

The library rewrites a prompt into variants, fans them out to models through a
cached router, embeds the answers and measures how far each variant moved each
model's answer. It never imports streamlit; the app and the CLI sit on top.
"""

from .cache import CompletionCache, default_cache_dir, request_key
from .embeddings import Embedder
from .errors import (
    ApiBaseUnreachableError,
    BadPromptError,
    ConfigurationError,
    MissingKeyError,
    ModelCallError,
    TransientModelError,
    UnknownModelError,
    UnknownVariantError,
    VariantFileError,
    VariationsError,
)
from .fanout import FanOutLimits, fan_out
from .records import (
    BASELINE_ID,
    ChatRequest,
    Completion,
    CompletionFn,
    GenerationParams,
    Message,
    Reply,
)
from .sweep import SweepResult, SweepSpec, build_requests, run_sweep, score_sweep
from .variants import Variant, VariantLibrary, load_library

__all__ = [
    "BASELINE_ID",
    "ApiBaseUnreachableError",
    "BadPromptError",
    "ChatRequest",
    "Completion",
    "CompletionCache",
    "CompletionFn",
    "ConfigurationError",
    "Embedder",
    "FanOutLimits",
    "GenerationParams",
    "Message",
    "MissingKeyError",
    "ModelCallError",
    "Reply",
    "SweepResult",
    "SweepSpec",
    "TransientModelError",
    "UnknownModelError",
    "UnknownVariantError",
    "Variant",
    "VariantFileError",
    "VariantLibrary",
    "VariationsError",
    "build_requests",
    "default_cache_dir",
    "fan_out",
    "load_library",
    "request_key",
    "run_sweep",
    "score_sweep",
]
