"""The significance tables of a whole run: per prompt and model, then pooled.

Input is one row per answer (prompt id, model, variant, error) and its vector;
output is three tables of plain rows: variant shifts (`metrics`), model figures
(`models`) and the cross-prompt ranking of variants (`variants`). The tests
themselves live in `stats`; this module only cuts the run into cells, calls
them with fixed seeds and pools the cells of each model across prompts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .metrics import distance_matrix
from .stats import (
    ModelAnalysis,
    VariantShift,
    adjust_pvalues_bh,
    analyse_model,
    rank_variants,
)
from .sweep_plan import POOLED_PROMPT_ID

Row = dict[str, Any]

METRIC_COLUMNS = (
    "prompt_id",
    "model",
    "variant",
    "samples",
    "shift",
    "noise_floor",
    "ratio",
    "p_value",
    "adjusted_p_value",
    "significant",
    "drifted",
)
MODEL_COLUMNS = (
    "prompt_id",
    "model",
    "answers",
    "noise_floor",
    "permanova_r2",
    "permanova_f",
    "permanova_p",
    "sensitivity",
    "sensitivity_low",
    "sensitivity_high",
)
VARIANT_COLUMNS = (
    "rank",
    "variant",
    "cells",
    "significant_cells",
    "fraction",
    "mean_ratio",
    "drifted_prompts",
)


@dataclass(frozen=True)
class AnalysisSettings:
    """How hard the tests work, and where their random numbers start."""

    permutations: int = 1000
    bootstraps: int = 1000
    seed: int = 0
    alpha: float = 0.05


@dataclass(frozen=True)
class RunMetrics:
    """The three tables of a run, rows in a fixed order."""

    metrics: list[Row]
    models: list[Row]
    variants: list[Row]


def analyse_run(
    rows: Sequence[Mapping[str, Any]],
    vectors: npt.NDArray[np.floating],
    settings: AnalysisSettings | None = None,
) -> RunMetrics:
    """Test every prompt x model cell, pool each model, rank the variants.

    Failed answers (a non-empty `error`) are left out. Cell i draws its
    permutations from seed + i, so the tables are the same on every rerun.
    """
    settings = settings or AnalysisSettings()
    cells = _cells(rows)
    analyses = {
        key: _analyse_cell(vectors, rows, indices, settings, offset)
        for offset, (key, indices) in enumerate(cells.items())
    }

    metrics = [r for key, a in analyses.items() for r in _shift_rows(key, a)]
    models = [_model_row(key, rows, cells[key], a) for key, a in analyses.items()]
    for model in dict.fromkeys(model for _, model in analyses):
        own = {key[0]: a for key, a in analyses.items() if key[1] == model}
        metrics.extend(_pooled_shift_rows(model, own, settings.alpha))
        models.append(_pooled_model_row(model, own, models))
    return _flag_drift(
        RunMetrics(metrics, models, _variant_rows(analyses.values())), rows
    )


def _flag_drift(tables: RunMetrics, rows: Sequence[Mapping[str, Any]]) -> RunMetrics:
    """Mark the shifts of model-written variants that drifted from the meaning.

    Their numbers stay in the tables, flagged, so nobody counts them as the
    effect of a tone unawares; a pooled row is flagged if any prompt drifted.
    """
    drifted = {
        (str(r["prompt_id"]), str(r["variant"])) for r in rows if r.get("drifted")
    }
    prompts_by_variant: dict[str, set[str]] = {}
    for prompt_id, variant in drifted:
        prompts_by_variant.setdefault(variant, set()).add(prompt_id)
    for row in tables.metrics:
        variant = str(row["variant"])
        row["drifted"] = (
            bool(prompts_by_variant.get(variant))
            if row["prompt_id"] == POOLED_PROMPT_ID
            else (str(row["prompt_id"]), variant) in drifted
        )
    for row in tables.variants:
        row["drifted_prompts"] = len(prompts_by_variant.get(str(row["variant"]), ()))
    return tables


def _cells(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], list[int]]:
    """Row indices of the successful answers, by (prompt id, model)."""
    cells: dict[tuple[str, str], list[int]] = {}
    for index, row in enumerate(rows):
        key = (str(row["prompt_id"]), str(row["model"]))
        indices = cells.setdefault(key, [])
        if not row.get("error"):
            indices.append(index)
    return cells


def _analyse_cell(
    vectors: npt.NDArray[np.floating],
    rows: Sequence[Mapping[str, Any]],
    indices: list[int],
    settings: AnalysisSettings,
    offset: int,
) -> ModelAnalysis:
    labels = [str(rows[index]["variant"]) for index in indices]
    return analyse_model(
        distance_matrix(vectors[indices]),
        labels,
        alpha=settings.alpha,
        permutations=settings.permutations,
        bootstraps=settings.bootstraps,
        seed=settings.seed + offset,
    )


def _shift_rows(key: tuple[str, str], analysis: ModelAnalysis) -> list[Row]:
    return [
        {
            "prompt_id": key[0],
            "model": key[1],
            "variant": row.variant,
            "samples": row.samples,
            "shift": row.shift,
            "noise_floor": analysis.noise_floor,
            "ratio": row.ratio,
            "p_value": row.p_value,
            "adjusted_p_value": row.adjusted_p_value,
            "significant": row.significant,
        }
        for row in analysis.variants
    ]


def _model_row(
    key: tuple[str, str],
    rows: Sequence[Mapping[str, Any]],
    indices: list[int],
    analysis: ModelAnalysis,
) -> Row:
    sensitivity = analysis.sensitivity
    return {
        "prompt_id": key[0],
        "model": key[1],
        "answers": len(indices),
        "noise_floor": analysis.noise_floor,
        "permanova_r2": analysis.permanova.r_squared,
        "permanova_f": analysis.permanova.pseudo_f,
        "permanova_p": analysis.permanova.p_value,
        "sensitivity": sensitivity.value if sensitivity else None,
        "sensitivity_low": sensitivity.low if sensitivity else None,
        "sensitivity_high": sensitivity.high if sensitivity else None,
    }


def _pooled_shift_rows(
    model: str, analyses: Mapping[str, ModelAnalysis], alpha: float
) -> list[Row]:
    """Per variant: mean shift and ratio over prompts, Fisher-combined p."""
    by_variant: dict[str, list[tuple[ModelAnalysis, VariantShift]]] = {}
    for analysis in analyses.values():
        for row in analysis.variants:
            by_variant.setdefault(row.variant, []).append((analysis, row))

    pooled: list[Row] = []
    for variant, pairs in by_variant.items():
        pooled.append(
            {
                "prompt_id": POOLED_PROMPT_ID,
                "model": model,
                "variant": variant,
                "samples": sum(row.samples for _, row in pairs),
                "shift": _mean(row.shift for _, row in pairs),
                "noise_floor": _mean(a.noise_floor for a, _ in pairs),
                "ratio": _mean(row.ratio for _, row in pairs),
                "p_value": fisher_combined_p([row.p_value for _, row in pairs]),
            }
        )
    adjusted = adjust_pvalues_bh([row["p_value"] for row in pooled])
    for pooled_row, q_value in zip(pooled, adjusted, strict=True):
        pooled_row["adjusted_p_value"] = q_value
        pooled_row["significant"] = q_value is not None and q_value < alpha
    return pooled


def _pooled_model_row(
    model: str, analyses: Mapping[str, ModelAnalysis], model_rows: list[Row]
) -> Row:
    """Means over prompts; the interval averages the per-prompt bounds.

    An average of bounds is wider than the interval of the mean of independent
    estimates, so the pooled interval errs on the conservative side.
    """
    own = [row for row in model_rows if row["model"] == model]
    return {
        "prompt_id": POOLED_PROMPT_ID,
        "model": model,
        "answers": sum(int(row["answers"]) for row in own),
        "noise_floor": _mean(row["noise_floor"] for row in own),
        "permanova_r2": _mean(row["permanova_r2"] for row in own),
        "permanova_f": _mean(row["permanova_f"] for row in own),
        "permanova_p": fisher_combined_p(
            [a.permanova.p_value for a in analyses.values()]
        ),
        "sensitivity": _mean(row["sensitivity"] for row in own),
        "sensitivity_low": _mean(row["sensitivity_low"] for row in own),
        "sensitivity_high": _mean(row["sensitivity_high"] for row in own),
    }


def _variant_rows(analyses: Iterable[ModelAnalysis]) -> list[Row]:
    return [
        {
            "rank": position,
            "variant": rank.variant,
            "cells": rank.cells,
            "significant_cells": rank.significant_cells,
            "fraction": rank.fraction,
            "mean_ratio": rank.mean_ratio,
        }
        for position, rank in enumerate(rank_variants(analyses), start=1)
    ]


def fisher_combined_p(p_values: Sequence[float | None]) -> float | None:
    """Fisher's method: one p-value for independent tests of one hypothesis.

    -2 sum(ln p) follows chi-squared with 2k degrees of freedom, whose upper
    tail has a closed form for even degrees, so scipy is not needed.
    """
    present = [max(p, 1e-300) for p in p_values if p is not None]
    if not present:
        return None
    half = -math.fsum(math.log(p) for p in present)
    term, total = 1.0, 1.0
    for index in range(1, len(present)):
        term *= half / index
        total += term
    return min(1.0, math.exp(-half) * total)


def _mean(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    if not present:
        return None
    if any(math.isinf(value) for value in present):
        return float(np.mean(present))
    return math.fsum(present) / len(present)
