"""Tables of answers for the page: what arrived so far, and every finished answer.

Cells hold plain text; a failed cell holds its error, marked, in place of the
answer, so a failure shows where the answer would have been.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd

from .records import BASELINE_ID, Completion
from .sweep import SweepResult

ERROR_MARK = "⚠ failed: "
PREVIEW_CHARS = 120


def arrivals_frame(
    completions: Sequence[Completion], labels: Mapping[str, str]
) -> pd.DataFrame:
    """The answers received so far, newest first, each cut to a preview."""
    rows = [
        {
            "Variant": labels.get(c.request.variant_id, c.request.variant_id),
            "Model": c.request.model,
            "Answer begins": clip(_cell_text(c), PREVIEW_CHARS),
        }
        for c in reversed(completions)
    ]
    return pd.DataFrame(rows, columns=["Variant", "Model", "Answer begins"])


def answers_frame(result: SweepResult, labels: Mapping[str, str]) -> pd.DataFrame:
    """Every answer with its shift, the original prompt's first, then by shift."""
    rows = []
    for completion, divergence in zip(
        result.completions, result.divergences, strict=True
    ):
        request = completion.request
        rows.append(
            {
                "Variant": labels.get(request.variant_id, request.variant_id),
                "Model": request.model,
                "Sample": request.sample + 1,
                "Shift": _number(divergence),
                "Answer": _cell_text(completion),
                "_baseline": request.variant_id == BASELINE_ID,
            }
        )
    frame = pd.DataFrame(
        rows, columns=["Variant", "Model", "Sample", "Shift", "Answer", "_baseline"]
    )
    frame["Shift"] = pd.to_numeric(frame["Shift"])  # a failed cell: NaN, shown blank
    frame = frame.sort_values(
        ["_baseline", "Shift"], ascending=[False, False], na_position="last"
    )
    columns = ["Variant", "Model", "Shift", "Answer"]
    if result.spec.samples > 1:
        columns.insert(2, "Sample")
    return frame[columns].reset_index(drop=True)


def clip(text: str, limit: int) -> str:
    """The text on one line, cut to limit characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _cell_text(completion: Completion) -> str:
    return completion.text if completion.ok else ERROR_MARK + (completion.error or "")


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 3)
