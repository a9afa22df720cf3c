"""Everything the results page draws for one sweep, computed in one go.

A report is built once per finished sweep and can be cached as it is: the
chart specifications are plain Vega-Lite dictionaries (Altair's conversion and
validation cost more than drawing), next to the scored sweep they came from.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from . import charts
from .significance import analyse_sweep
from .stats import ModelAnalysis
from .summary import Headline, headline
from .sweep import SweepResult

VegaLiteSpec = dict[str, Any]
ALL_MODELS = "All models"


@dataclass
class SweepReport:
    """A scored sweep, its headline, and its charts as Vega-Lite specs.

    `heatmaps` has one chart per model; `maps` one for all models (key
    ALL_MODELS) and, when there are several, one per model. A chart is left
    out when there is nothing to draw: no variant could be compared, or a
    model (or the whole sweep) has fewer than two answers. `analyses` holds
    each model's significance tests (empty with one sample per cell).
    """

    result: SweepResult
    headline: Headline
    divergence: VegaLiteSpec | None
    heatmaps: dict[str, VegaLiteSpec] = field(default_factory=dict)
    maps: dict[str, VegaLiteSpec] = field(default_factory=dict)
    analyses: dict[str, ModelAnalysis] = field(default_factory=dict)


def build_report(result: SweepResult) -> SweepReport:
    """Compute the headline and every chart of a finished sweep."""
    answers = Counter(c.request.model for c in result.completions if c.ok)
    has_shifts = not charts.shift_frame(result).empty
    analyses = analyse_sweep(result)
    divergence = charts.divergence_chart(result, analyses) if has_shifts else None
    return SweepReport(
        result=result,
        headline=headline(result, analyses if result.spec.samples > 1 else None),
        divergence=divergence.to_dict() if divergence is not None else None,
        heatmaps={
            model: charts.heatmap_chart(result, model).to_dict()
            for model in result.spec.models
            if answers[model] > 1
        },
        maps=_maps(result, answers),
        analyses=analyses,
    )


def _maps(result: SweepResult, answers: Counter[str]) -> dict[str, VegaLiteSpec]:
    maps: dict[str, VegaLiteSpec] = {}
    if answers.total() > 1:
        maps[ALL_MODELS] = charts.answer_map_chart(result).to_dict()
    if len(result.spec.models) > 1:
        for model in result.spec.models:
            if answers[model] > 1:
                maps[model] = charts.answer_map_chart(result, [model]).to_dict()
    return maps
