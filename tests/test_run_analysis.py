"""The significance tables of a run: cells, pooling, ranking, determinism."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.stats import combine_pvalues

from variations.run_analysis import (
    METRIC_COLUMNS,
    MODEL_COLUMNS,
    AnalysisSettings,
    analyse_run,
    fisher_combined_p,
)

SETTINGS = AnalysisSettings(permutations=200, bootstraps=200, seed=3)


def synthetic_run(
    prompts: int = 2, samples: int = 6, dims: int = 16
) -> tuple[list[dict[str, Any]], np.ndarray]:
    """'far' answers point elsewhere; 'same' answers are baseline noise."""
    rng = np.random.default_rng(0)
    rows, vectors = [], []
    centre, elsewhere = np.eye(dims)[0], np.eye(dims)[1]
    for prompt in range(prompts):
        for model in ("m1", "m2"):
            for variant, mean in (
                ("original", centre),
                ("same", centre),
                ("far", elsewhere),
            ):
                for _ in range(samples):
                    rows.append(
                        {"prompt_id": f"p{prompt}", "model": model, "variant": variant}
                    )
                    vector = mean + rng.normal(scale=0.1, size=dims)
                    vectors.append(vector / np.linalg.norm(vector))
    return rows, np.array(vectors, dtype=np.float32)


def test_a_real_shift_stands_clear_of_the_noise() -> None:
    rows, vectors = synthetic_run()

    result = analyse_run(rows, vectors, SETTINGS)

    by_cell = {(r["prompt_id"], r["model"], r["variant"]): r for r in result.metrics}
    far, same = by_cell["p0", "m1", "far"], by_cell["p0", "m1", "same"]
    assert far["significant"] and far["ratio"] > 5 and far["p_value"] < 0.01
    assert not same["significant"] and same["ratio"] < 2
    assert set(far) == set(METRIC_COLUMNS)
    assert result.variants[0]["variant"] == "far"
    assert result.variants[0]["significant_cells"] == result.variants[0]["cells"] == 4


def test_pooled_rows_summarise_each_model_across_prompts() -> None:
    rows, vectors = synthetic_run()

    result = analyse_run(rows, vectors, SETTINGS)

    pooled = [r for r in result.metrics if r["prompt_id"] == "all"]
    assert {(r["model"], r["variant"]) for r in pooled} == {
        ("m1", "same"),
        ("m1", "far"),
        ("m2", "same"),
        ("m2", "far"),
    }
    far = next(r for r in pooled if r["model"] == "m1" and r["variant"] == "far")
    assert far["samples"] == 12 and far["significant"]
    models = {(r["prompt_id"], r["model"]): r for r in result.models}
    assert set(models) == {
        ("p0", "m1"),
        ("p0", "m2"),
        ("p1", "m1"),
        ("p1", "m2"),
        ("all", "m1"),
        ("all", "m2"),
    }
    cell, overall = models["p0", "m1"], models["all", "m1"]
    assert set(cell) == set(MODEL_COLUMNS)
    assert cell["permanova_r2"] > 0.5 and cell["permanova_p"] < 0.05
    assert cell["sensitivity_low"] <= cell["sensitivity"] <= cell["sensitivity_high"]
    assert overall["answers"] == 36


def test_failed_answers_are_left_out() -> None:
    rows, vectors = synthetic_run(prompts=1)
    rows[0]["error"] = "timeout"

    result = analyse_run(rows, vectors, SETTINGS)

    first = next(r for r in result.models if r["model"] == "m1")
    assert first["answers"] == 17


def test_tables_are_identical_on_a_rerun() -> None:
    rows, vectors = synthetic_run()

    assert analyse_run(rows, vectors, SETTINGS) == analyse_run(rows, vectors, SETTINGS)


def test_one_sample_gives_shifts_without_tests() -> None:
    rows, vectors = synthetic_run(prompts=1, samples=1)

    result = analyse_run(rows, vectors, SETTINGS)

    assert all(
        r["p_value"] is None and r["noise_floor"] is None for r in result.metrics
    )
    assert all(not r["significant"] for r in result.metrics)


@pytest.mark.parametrize(
    "p_values", [[0.04], [0.01, 0.2], [0.5, 0.5, 0.5], [0.001, 0.9, 0.3, 0.05]]
)
def test_fisher_combination_matches_scipy(p_values: list[float]) -> None:
    expected = combine_pvalues(p_values, method="fisher").pvalue

    assert fisher_combined_p(p_values) == pytest.approx(expected, rel=1e-9)


def test_fisher_combination_skips_missing_values() -> None:
    assert fisher_combined_p([None, None]) is None
    assert fisher_combined_p([None, 0.3]) == pytest.approx(0.3)
