"""Divergence between answers: how far a variant moved a model's answer.

Distance is 1 - cosine similarity of normalised sentence embeddings. A
variant's shift is the mean distance between its answers and the model's
answers to the original prompt, over every (variant sample, baseline sample)
pair. The noise floor is the same distance between repeated samples of one
prompt: a shift is only a shift when it stands clear of it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .records import BASELINE_ID, Completion

Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Shift:
    """How far one variant moved one model's answer from the baseline."""

    model: str
    variant_id: str
    category: str
    shift: float
    answers: int
    failures: int


def distance_matrix(vectors: npt.NDArray[np.floating]) -> Matrix:
    """Pairwise 1 - cosine distances of normalised vectors, zero on the diagonal."""
    unit = np.asarray(vectors, dtype=np.float64)
    distances = np.clip(1.0 - unit @ unit.T, 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    return distances


def answer_divergences(
    completions: Sequence[Completion], vectors: npt.NDArray[np.floating]
) -> list[float | None]:
    """Each answer's mean distance to its model's baseline answers.

    A baseline answer is compared with the other baseline samples only, so with
    one sample it reads 0. Failed cells, and models whose baseline failed, get None.
    """
    distances = distance_matrix(vectors)
    baseline_rows = _rows_by_model(completions, baseline=True)
    result: list[float | None] = []
    for index, completion in enumerate(completions):
        others = [
            row
            for row in baseline_rows.get(completion.request.model, [])
            if row != index
        ]
        if not completion.ok or not others:
            is_lone_baseline = completion.ok and _is_baseline(completion)
            result.append(0.0 if is_lone_baseline else None)
            continue
        result.append(float(distances[index, others].mean()))
    return result


def variant_shifts(
    completions: Sequence[Completion], vectors: npt.NDArray[np.floating]
) -> list[Shift]:
    """Shift per (model, variant), in the order the cells first appear."""
    distances = distance_matrix(vectors)
    baseline_rows = _rows_by_model(completions, baseline=True)
    cells: dict[tuple[str, str], list[int]] = {}
    for index, completion in enumerate(completions):
        key = (completion.request.model, completion.request.variant_id)
        cells.setdefault(key, []).append(index)

    shifts = []
    for (model, variant_id), rows in cells.items():
        ok_rows = [row for row in rows if completions[row].ok]
        value = _mean_cross_distance(distances, ok_rows, baseline_rows.get(model, []))
        shifts.append(
            Shift(
                model=model,
                variant_id=variant_id,
                category=completions[rows[0]].request.category,
                shift=value,
                answers=len(ok_rows),
                failures=len(rows) - len(ok_rows),
            )
        )
    return shifts


def noise_floors(
    completions: Sequence[Completion], vectors: npt.NDArray[np.floating]
) -> dict[str, float]:
    """Per model: mean distance between repeated samples of the same prompt.

    Pooled over every variant's samples; models with one sample per cell are
    left out (there is nothing to compare).
    """
    distances = distance_matrix(vectors)
    pairs_by_model: dict[str, list[float]] = {}
    cells: dict[tuple[str, str], list[int]] = {}
    for index, completion in enumerate(completions):
        if completion.ok:
            key = (completion.request.model, completion.request.variant_id)
            cells.setdefault(key, []).append(index)
    for (model, _), rows in cells.items():
        upper = np.triu_indices(len(rows), k=1)
        values = distances[np.ix_(rows, rows)][upper]
        pairs_by_model.setdefault(model, []).extend(values.tolist())
    return {
        model: float(np.mean(values))
        for model, values in pairs_by_model.items()
        if values
    }


def model_distance_matrix(
    completions: Sequence[Completion],
    vectors: npt.NDArray[np.floating],
    model: str,
) -> tuple[list[Completion], Matrix]:
    """The answers of one model (successful ones) and their pairwise distances."""
    rows = [
        index
        for index, completion in enumerate(completions)
        if completion.ok and completion.request.model == model
    ]
    return [completions[row] for row in rows], distance_matrix(vectors[rows])


def _mean_cross_distance(
    distances: Matrix, rows: list[int], baseline_rows: list[int]
) -> float:
    pairs = [(a, b) for a in rows for b in baseline_rows if a != b]
    if not pairs:
        return 0.0 if rows and set(rows) == set(baseline_rows) else math.nan
    first, second = zip(*pairs, strict=True)
    return float(distances[list(first), list(second)].mean())


def _rows_by_model(
    completions: Sequence[Completion], *, baseline: bool
) -> dict[str, list[int]]:
    rows: dict[str, list[int]] = {}
    for index, completion in enumerate(completions):
        if completion.ok and _is_baseline(completion) == baseline:
            rows.setdefault(completion.request.model, []).append(index)
    return rows


def _is_baseline(completion: Completion) -> bool:
    return completion.request.variant_id == BASELINE_ID
