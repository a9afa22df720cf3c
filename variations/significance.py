"""Which shifts of a finished sweep stand clear of re-asking noise, per model.

A thin layer over `stats.analyse_model`: one analysis per model of the sweep,
with a fixed seed so the same answers always give the same verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from .metrics import model_distance_matrix
from .stats import ModelAnalysis, VariantShift, analyse_model
from .sweep import SweepResult

ALPHA = 0.05
# 500 relabellings resolve p-values near 0.05 to about +-0.01, in a few ms.
PERMUTATIONS = 500
BOOTSTRAPS = 200
SEED = 0


def analyse_sweep(
    result: SweepResult, *, permutations: int = PERMUTATIONS, seed: int = SEED
) -> dict[str, ModelAnalysis]:
    """Shift tests of every variant, per model; empty with one sample per cell."""
    if result.spec.samples < 2:
        return {}
    analyses = {}
    for model in result.spec.models:
        answered, distances = model_distance_matrix(
            result.completions, result.vectors, model
        )
        if len(answered) < 2:
            continue
        analyses[model] = analyse_model(
            distances,
            [completion.request.variant_id for completion in answered],
            alpha=ALPHA,
            permutations=permutations,
            bootstraps=BOOTSTRAPS,
            seed=seed,
        )
    return analyses


def can_decide(samples: int, *, alpha: float = ALPHA) -> bool:
    """Whether a shift test with this many samples a side can reach p < alpha.

    With s samples of each prompt there are C(2s, s) ways to split them, so
    the smallest possible p-value is 1 / C(2s, s): 1/6 with 2 samples, 1/20
    with 3, so 4 are needed for p < 0.05.
    """
    return samples > 1 and 1 / math.comb(2 * samples, samples) < alpha


def significant_rows(
    analyses: Mapping[str, ModelAnalysis],
) -> list[tuple[str, VariantShift]]:
    """(model, row) for every shift that stands clear of the noise."""
    return [
        (model, row)
        for model, analysis in analyses.items()
        for row in analysis.variants
        if row.significant
    ]
