"""Counting a sweep's answers as they arrive, overall and per model."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from .records import ChatRequest, Completion


@dataclass
class SweepProgress:
    """How many cells each model has answered or failed, out of how many."""

    expected: Counter[str]
    answered: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    from_cache: int = 0

    @classmethod
    def of(cls, requests: Sequence[ChatRequest]) -> SweepProgress:
        return cls(expected=Counter(request.model for request in requests))

    def record(self, completion: Completion) -> None:
        model = completion.request.model
        if completion.ok:
            self.answered[model] += 1
        else:
            self.failed[model] += 1
        self.from_cache += completion.cache_hit

    @property
    def total(self) -> int:
        return sum(self.expected.values())

    @property
    def done(self) -> int:
        return sum(self.answered.values()) + sum(self.failed.values())

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    def overall(self) -> str:
        """E.g. "12 of 21 answers · 3 from the cache"."""
        text = f"{self.done} of {self.total} answers"
        if self.from_cache:
            text += f" · {self.from_cache} from the cache"
        return text

    def model_status(self, model: str) -> str:
        """E.g. "5 of 7 answered, 1 failed" for one model."""
        done = self.answered[model] + self.failed[model]
        text = f"{self.answered[model]} of {self.expected[model]} answered"
        if self.failed[model]:
            text += f", {self.failed[model]} failed"
        if done == self.expected[model]:
            text += " · done"
        return text
