from __future__ import annotations

import math

import numpy as np
import pytest

from variations.metrics import (
    answer_divergences,
    distance_matrix,
    model_distance_matrix,
    noise_floors,
    variant_shifts,
)
from variations.records import BASELINE_ID, ChatRequest, Completion


def completion(
    model: str, variant: str, sample: int = 0, error: str | None = None
) -> Completion:
    request = ChatRequest(
        model=model, variant_id=variant, category="tone", prompt=variant, sample=sample
    )
    return Completion(
        request=request, text="" if error else "x", latency_s=0.1, error=error
    )


def unit(*components: float) -> np.ndarray:
    vector = np.zeros(4)
    vector[: len(components)] = components
    return vector / np.linalg.norm(vector)


def test_distance_is_one_minus_cosine() -> None:
    vectors = np.stack([unit(1, 0), unit(0, 1), unit(1, 1), unit(-1, 0)])

    distances = distance_matrix(vectors)

    assert distances[0, 1] == pytest.approx(1.0)
    assert distances[0, 2] == pytest.approx(1 - math.sqrt(0.5))
    assert distances[0, 3] == pytest.approx(2.0)
    assert np.allclose(np.diag(distances), 0)
    assert np.allclose(distances, distances.T)


def test_identical_answers_have_zero_shift() -> None:
    completions = [completion("m", BASELINE_ID), completion("m", "polite")]
    vectors = np.stack([unit(1, 2), unit(1, 2)])

    assert answer_divergences(completions, vectors) == [
        0.0,
        pytest.approx(0.0, abs=1e-9),
    ]
    assert [s.shift for s in variant_shifts(completions, vectors)] == [
        0.0,
        pytest.approx(0.0, abs=1e-9),
    ]


def test_shift_is_mean_over_sample_pairs() -> None:
    completions = [
        completion("m", BASELINE_ID, 0),
        completion("m", BASELINE_ID, 1),
        completion("m", "hostile", 0),
        completion("m", "hostile", 1),
    ]
    vectors = np.stack([unit(1, 0), unit(1, 0), unit(0, 1), unit(1, 1)])

    shifts = {s.variant_id: s for s in variant_shifts(completions, vectors)}

    expected = np.mean([1.0, 1.0, 1 - math.sqrt(0.5), 1 - math.sqrt(0.5)])
    assert shifts["hostile"].shift == pytest.approx(expected)
    assert shifts[BASELINE_ID].shift == pytest.approx(0.0, abs=1e-9)
    assert noise_floors(completions, vectors)["m"] == pytest.approx(
        np.mean([0.0, 1 - math.sqrt(0.5)])
    )


def test_models_are_compared_with_their_own_baseline() -> None:
    completions = [
        completion("a", BASELINE_ID),
        completion("b", BASELINE_ID),
        completion("a", "urgent"),
        completion("b", "urgent"),
    ]
    vectors = np.stack([unit(1, 0), unit(0, 1), unit(1, 0), unit(1, 0)])

    divergences = answer_divergences(completions, vectors)

    assert divergences[2] == pytest.approx(0.0, abs=1e-9)
    assert divergences[3] == pytest.approx(1.0)


def test_failed_cells_and_failed_baselines_have_no_divergence() -> None:
    completions = [
        completion("a", BASELINE_ID, error="boom"),
        completion("a", "polite"),
        completion("b", BASELINE_ID),
        completion("b", "polite", error="boom"),
    ]
    vectors = np.stack([unit(1), unit(1), unit(1), unit(1)])

    assert answer_divergences(completions, vectors) == [None, None, 0.0, None]
    shifts = {(s.model, s.variant_id): s for s in variant_shifts(completions, vectors)}
    assert math.isnan(shifts[("a", "polite")].shift)
    assert shifts[("b", "polite")].failures == 1
    assert shifts[("b", "polite")].answers == 0


def test_distance_matrix_of_one_model() -> None:
    completions = [
        completion("a", BASELINE_ID),
        completion("b", BASELINE_ID),
        completion("a", "x"),
    ]
    vectors = np.stack([unit(1, 0), unit(0, 1), unit(0, 1)])

    answers, distances = model_distance_matrix(completions, vectors, "a")

    assert [c.request.variant_id for c in answers] == [BASELINE_ID, "x"]
    assert distances.shape == (2, 2)
    assert distances[0, 1] == pytest.approx(1.0)
