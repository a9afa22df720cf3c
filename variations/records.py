"""The small immutable records that flow through a sweep.

A ChatRequest is one cell of a sweep (variant x model x sample); a Reply is what
a completion function returns for it; a Completion is the recorded outcome,
success or failure, with its timing and whether it came from the cache.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

BASELINE_ID = "original"


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class GenerationParams:
    """Everything that shapes a generation, besides the messages."""

    temperature: float = 0.7
    max_tokens: int = 128
    seed: int | None = None
    api_base: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "api_base": self.api_base,
        }


@dataclass(frozen=True)
class ChatRequest:
    """One cell of a sweep: a variant's text sent to one model, one sample."""

    model: str
    variant_id: str
    category: str
    prompt: str
    sample: int = 0
    params: GenerationParams = field(default_factory=GenerationParams)
    system: str | None = None

    @property
    def messages(self) -> tuple[Message, ...]:
        user = Message("user", self.prompt)
        return (Message("system", self.system), user) if self.system else (user,)

    @property
    def sample_seed(self) -> int | None:
        """The seed sent for this sample: distinct per sample, fixed per run.

        With one seed for every sample, repeated samples would be identical and
        the noise floor would read zero, so each sample offsets the run's seed.
        """
        if self.params.seed is None:
            return None
        return self.params.seed + self.sample


@dataclass(frozen=True)
class Reply:
    """What a completion function returns for one request."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None


@dataclass(frozen=True)
class Completion:
    """The recorded outcome of one request: a reply or an error."""

    request: ChatRequest
    text: str
    latency_s: float
    cache_hit: bool = False
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


CompletionFn = Callable[[ChatRequest], Awaitable[Reply]]
"""The seam the fan-out calls: tests pass fakes, production passes litellm."""
