"""Altair charts of a finished sweep: shifts, pairwise divergence, a map of answers.

Colours come from the Okabe-Ito palette, which stays distinct for the common
kinds of colour blindness; fonts are sized to read on a projector. Model text
only ever reaches a chart as data (tooltips, labels), which Vega shows as text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final, TypeVar, cast

import altair as alt
import numpy as np
import numpy.typing as npt
import pandas as pd

from .metrics import model_distance_matrix
from .records import BASELINE_ID, Completion
from .stats import ModelAnalysis
from .summary import variant_labels
from .sweep import SweepResult
from .tables import clip

# Okabe & Ito (2008), ordered so the first colours contrast most on white.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#D55E00",
    "#56B4E9",
    "#000000",
    "#F0E442",
)
HEATMAP_SCHEME: Final = "viridis"
TOOLTIP_CHARS = 240
FONT_SIZE = 14
TITLE_SIZE = 16
ChartT = TypeVar("ChartT", alt.Chart, alt.LayerChart)
# Lower bounds of the scales, so that near-identical answers look near-identical
# instead of being stretched across the chart. Shifts and divergences are
# cosine distances; the map is in embedding units (sqrt(2 x distance) apart).
MIN_SHIFT_SCALE = 0.3
MIN_HEATMAP_SCALE = 0.6
MIN_MAP_EXTENT = 0.8
# Past this many points, the map names only the most moved variants per model.
MAX_MAP_LABELS = 24
MAP_LABELS_PER_MODEL = 3
# Pixels taken by an x axis with its title, and by rotated answer labels.
_AXIS_ROOM = 60
_ROTATED_LABELS_ROOM = 130


def shift_frame(
    result: SweepResult, analyses: Mapping[str, ModelAnalysis] | None = None
) -> pd.DataFrame:
    """One row per (model, variant) with its shift, the noise floor and the prompt.

    With `analyses` (see variations.significance), each row also carries its
    permutation p-value and whether it stands clear of the noise; without, or
    for a variant that could not be tested, those are missing.
    """
    labels = variant_labels(result)
    prompts = _prompt_by_variant(result.completions)
    tests = {
        (model, row.variant): row
        for model, analysis in (analyses or {}).items()
        for row in analysis.variants
    }
    rows = []
    for shift in result.shifts:
        if shift.variant_id == BASELINE_ID or math.isnan(shift.shift):
            continue
        test = tests.get((shift.model, shift.variant_id))
        significant = test.significant if test and test.p_value is not None else None
        rows.append(
            {
                "model": shift.model,
                "variant": shift.variant_id,
                "label": labels.get(shift.variant_id, shift.variant_id),
                "category": shift.category,
                "shift": shift.shift,
                "noise_floor": result.noise_floors.get(shift.model),
                "answers": shift.answers,
                "failures": shift.failures,
                "prompt": clip(prompts.get(shift.variant_id, ""), TOOLTIP_CHARS),
                "p_value": test.p_value if test else None,
                "significant": significant,
                "verdict": _verdict(significant),
            }
        )
    columns = ["model", "variant", "label", "category", "shift", "noise_floor"]
    tail = ["answers", "failures", "prompt", "p_value", "significant", "verdict"]
    return pd.DataFrame(rows, columns=[*columns, *tail])


def divergence_chart(
    result: SweepResult, analyses: Mapping[str, ModelAnalysis] | None = None
) -> alt.LayerChart:
    """Bars of shift from the original per variant, one colour per model, sorted.

    With several samples, a shaded band per model reaches up to its noise
    floor; with `analyses`, bars that stand clear of the noise are outlined.
    """
    frame = shift_frame(result, analyses)
    order = (
        frame.groupby("label")["shift"]
        .max()
        .sort_values(ascending=False)
        .index.tolist()
    )
    models = list(result.spec.models)
    color = model_color(models)
    x = alt.X(
        "shift:Q",
        title="Shift from the answer to the prompt as typed",
        axis=_axis(),
        # A floor under the scale keeps tiny shifts looking tiny.
        scale=alt.Scale(domain=[0, max(MIN_SHIFT_SCALE, _max_or_zero(frame["shift"]))]),
    )
    y = alt.Y("label:N", sort=order, title=None, axis=_axis(label_limit=240))
    y_offset = alt.YOffset("model:N", sort=models)

    bars = (
        alt.Chart(frame)
        .mark_bar(cornerRadiusEnd=3)
        .encode(
            x=x,
            y=y,
            yOffset=y_offset,
            color=color,
            tooltip=[
                alt.Tooltip("label:N", title="Variant"),
                alt.Tooltip("model:N", title="Model"),
                alt.Tooltip("shift:Q", title="Shift", format=".3f"),
                alt.Tooltip("noise_floor:Q", title="Re-asking noise", format=".3f"),
                alt.Tooltip("verdict:N", title="Beyond the noise?"),
                alt.Tooltip("p_value:Q", title="p-value", format=".3f"),
                alt.Tooltip("prompt:N", title="Prompt sent"),
            ],
        )
    )
    values = bars.mark_text(align="left", dx=4, fontSize=FONT_SIZE - 1).encode(
        text=alt.Text("shift:Q", format=".2f"), color=alt.value("#333333")
    )
    floors = frame.dropna(subset=["noise_floor"]).drop_duplicates("model")
    layers: list[alt.Chart] = [*_noise_layers(floors, color), bars, values]
    if frame["significant"].eq(True).any():
        # An outline, not a colour: colour already says which model it is.
        outlined = frame[frame["significant"].eq(True)]
        layers.append(
            alt.Chart(outlined)
            .mark_bar(filled=False, stroke="#000000", strokeWidth=2.5)
            .encode(x=x, y=y, yOffset=y_offset)
        )
    # Streamlit fits the whole chart (axes and legend too) into the height.
    band = max(34, 16 * len(models) + 14)
    height = band * max(1, len(order)) + _AXIS_ROOM + _legend_room(models)
    chart = alt.LayerChart(layer=layers).properties(height=min(2400, height))
    return _styled(chart)


def heatmap_chart(result: SweepResult, model: str) -> alt.Chart:
    """Divergence between every pair of one model's answers, variant by variant.

    With several samples, a cell is the mean over the two variants' sample
    pairs, and the diagonal shows how far repeated samples of one prompt lie
    apart (0 with one sample).
    """
    frame = heatmap_frame(result, model)
    names = list(dict.fromkeys(frame["answer_a"]))
    size = min(1000, 30 * len(names) + _ROTATED_LABELS_ROOM)
    # Upright labels fit many columns; slanted ones read better when few.
    angle = -45 if len(names) <= 8 else -90
    chart: alt.Chart = (
        alt.Chart(frame)
        .mark_rect()
        .encode(
            x=alt.X(
                "answer_b:N",
                sort=names,
                title=None,
                axis=_axis(label_angle=angle, label_limit=180, every_label=True),
            ),
            y=alt.Y(
                "answer_a:N",
                sort=names,
                title=None,
                axis=_axis(label_limit=180, every_label=True),
            ),
            color=alt.Color(
                "distance:Q",
                scale=alt.Scale(
                    scheme=HEATMAP_SCHEME,
                    domain=[0, max(MIN_HEATMAP_SCALE, _max_or_zero(frame["distance"]))],
                ),
                title="Divergence",
            ),
            tooltip=[
                alt.Tooltip("answer_a:N", title="Answer to"),
                alt.Tooltip("answer_b:N", title="Compared with"),
                alt.Tooltip("distance:Q", title="Divergence", format=".3f"),
            ],
        )
        .properties(height=size)
    )
    return _styled(chart)


def heatmap_frame(result: SweepResult, model: str) -> pd.DataFrame:
    """Mean divergence between each pair of variants' answers, for one model."""
    completions, distances = model_distance_matrix(
        result.completions, result.vectors, model
    )
    labels = variant_labels(result)
    rows_by_variant: dict[str, list[int]] = {}
    for row, completion in enumerate(completions):
        rows_by_variant.setdefault(completion.request.variant_id, []).append(row)

    records = []
    for first, first_rows in rows_by_variant.items():
        for second, second_rows in rows_by_variant.items():
            pairs = [(a, b) for a in first_rows for b in second_rows if a != b]
            values = [distances[a, b] for a, b in pairs]
            records.append(
                {
                    "answer_a": labels.get(first, first),
                    "answer_b": labels.get(second, second),
                    "distance": float(np.mean(values)) if values else 0.0,
                }
            )
    return pd.DataFrame(records, columns=["answer_a", "answer_b", "distance"])


def answer_map_chart(
    result: SweepResult, models: Sequence[str] | None = None
) -> alt.LayerChart:
    """Answers (of some models) placed in 2-D: close points say similar things."""
    models = list(models or result.spec.models)
    frame = answer_map_frame(result, models)
    color = model_color(models)
    x_domain, y_domain = _map_domains(frame)
    x = alt.X("x:Q", title=None, axis=None, scale=alt.Scale(domain=x_domain))
    y = alt.Y("y:Q", title=None, axis=None, scale=alt.Scale(domain=y_domain))
    tooltip = [
        alt.Tooltip("model:N", title="Model"),
        alt.Tooltip("label:N", title="Variant"),
        alt.Tooltip("preview:N", title="Answer begins"),
    ]
    base = alt.Chart(frame).encode(x=x, y=y, color=color, tooltip=tooltip)

    points = base.mark_point(filled=True, size=110, opacity=0.9).encode(
        shape=alt.Shape(
            "kind:N",
            scale=alt.Scale(
                domain=["Original prompt", "Variant"], range=["diamond", "circle"]
            ),
            title=None,
        ),
        size=alt.Size(
            "kind:N",
            scale=alt.Scale(domain=["Original prompt", "Variant"], range=[420, 110]),
            legend=None,
        ),
    )
    # Labels point inwards, so that none runs off the chart's edge.
    centre = (x_domain[0] + x_domain[1]) / 2
    left_labels = (
        base.transform_filter(alt.datum.x <= centre)
        .mark_text(align="left", dx=9, dy=-6, fontSize=FONT_SIZE - 1)
        .encode(text="shown_label:N")
    )
    right_labels = (
        base.transform_filter(alt.datum.x > centre)
        .mark_text(align="right", dx=-9, dy=-6, fontSize=FONT_SIZE - 1)
        .encode(text="shown_label:N")
    )
    links = (
        alt.Chart(frame)
        .mark_rule(opacity=0.3, strokeWidth=1.5)
        .encode(x=x, y=y, x2="x0:Q", y2="y0:Q", color=model_color(models, legend=False))
    )
    height = 460 + _legend_room(models)
    layers = [links, points, left_labels, right_labels]
    chart = alt.LayerChart(layer=layers).properties(height=height)
    return _styled(chart)


def answer_map_frame(
    result: SweepResult, models: Sequence[str] | None = None
) -> pd.DataFrame:
    """One point per model and variant (its samples averaged), placed in 2-D.

    `shown_label` names every point when there are few; with many, only the
    original prompt's and each model's most moved variants, the rest on hover.
    """
    models = list(models or result.spec.models)
    labels = variant_labels(result)
    groups: dict[tuple[str, str], list[int]] = {}
    for row, completion in enumerate(result.completions):
        if completion.ok and completion.request.model in models:
            key = (completion.request.model, completion.request.variant_id)
            groups.setdefault(key, []).append(row)
    means = [result.vectors[rows].mean(axis=0) for rows in groups.values()]
    coordinates = project_2d(np.array(means)) if means else np.zeros((0, 2))

    records = []
    for (x, y), ((model, variant_id), rows) in zip(
        coordinates, groups.items(), strict=True
    ):
        records.append(
            {
                "x": float(x),
                "y": float(y),
                "model": model,
                "variant": variant_id,
                "label": labels.get(variant_id, variant_id),
                "kind": "Original prompt" if variant_id == BASELINE_ID else "Variant",
                "preview": clip(result.completions[rows[0]].text, 160),
            }
        )
    columns = ["x", "y", "model", "variant", "label", "kind", "preview"]
    frame = _with_baseline_position(pd.DataFrame(records, columns=columns))
    frame["shown_label"] = _thinned_labels(frame, result)
    return frame


def _thinned_labels(frame: pd.DataFrame, result: SweepResult) -> list[str]:
    if len(frame) <= MAX_MAP_LABELS:
        return list(frame["label"])
    shift = {(s.model, s.variant_id): s.shift for s in result.shifts}
    keys = zip(frame["model"], frame["variant"], strict=True)
    frame = frame.assign(shift=[shift.get(key, 0.0) for key in keys])
    ranks = frame.groupby("model")["shift"].rank(ascending=False, method="first")
    keep = (frame["kind"] == "Original prompt") | (ranks <= MAP_LABELS_PER_MODEL)
    return [
        label if kept else "" for label, kept in zip(frame["label"], keep, strict=True)
    ]


def project_2d(vectors: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """The first two principal components of the vectors (zeros where undefined)."""
    data = np.asarray(vectors, dtype=np.float64)
    projected = np.zeros((len(data), 2))
    if len(data) < 2:
        return projected
    centred = data - data.mean(axis=0)
    left, singular, _ = np.linalg.svd(centred, full_matrices=False)
    components = min(2, len(singular))
    projected[:, :components] = left[:, :components] * singular[:components]
    # SVD signs are arbitrary; fix them so the same answers always draw alike.
    for axis in range(components):
        column = projected[:, axis]
        if column[np.argmax(np.abs(column))] < 0:
            projected[:, axis] = -column
    return projected


def model_color(models: Sequence[str], *, legend: bool = True) -> alt.Color:
    """A colour per model, fixed by its place in the sweep; a legend if several."""
    scale = alt.Scale(domain=list(models), range=list(PALETTE[: max(1, len(models))]))
    shown = alt.Legend(orient="bottom", direction="horizontal", columns=2)
    return alt.Color(
        "model:N",
        scale=scale,
        title="Model",
        legend=shown if legend and len(models) > 1 else None,
    )


def _noise_layers(floors: pd.DataFrame, color: alt.Color) -> list[alt.Chart]:
    """Per model, a faint band from 0 to its noise floor and a dashed edge."""
    if floors.empty:
        return []
    tooltip = [
        alt.Tooltip("model:N", title="Model"),
        alt.Tooltip("noise_floor:Q", title="Re-asking noise", format=".3f"),
    ]
    base = alt.Chart(floors).encode(color=color, tooltip=tooltip)
    band = base.mark_rect(opacity=0.12).encode(x=alt.datum(0), x2="noise_floor:Q")
    edge = base.mark_rule(strokeDash=[6, 4], strokeWidth=2).encode(x="noise_floor:Q")
    return [band, edge]


def _verdict(significant: bool | None) -> str:
    if significant is None:
        return "not tested (needs more samples)"
    return "yes" if significant else "no: re-asking moves it as much"


def _with_baseline_position(frame: pd.DataFrame) -> pd.DataFrame:
    """Add x0, y0: where each model's answers to the original prompt sit (mean)."""
    baselines = (
        frame[frame["variant"] == BASELINE_ID]
        .groupby("model")[["x", "y"]]
        .mean()
        .rename(columns={"x": "x0", "y": "y0"})
    )
    merged = frame.merge(baselines, left_on="model", right_index=True, how="left")
    # Points of a model without a baseline answer link to themselves (no line).
    merged["x0"] = merged["x0"].fillna(merged["x"])
    merged["y0"] = merged["y0"].fillna(merged["y"])
    return merged


def _max_or_zero(values: pd.Series) -> float:
    return float(values.max()) if len(values) and pd.notna(values.max()) else 0.0


def _map_domains(frame: pd.DataFrame) -> tuple[list[float], list[float]]:
    """Equal extents on both axes, at least MIN_MAP_EXTENT, around the points."""
    if frame.empty:
        half = MIN_MAP_EXTENT / 2
        return [-half, half], [-half, half]
    spans = [frame[axis].max() - frame[axis].min() for axis in ("x", "y")]
    half = max(MIN_MAP_EXTENT, *spans) / 2 * 1.1
    centres = [(frame[axis].max() + frame[axis].min()) / 2 for axis in ("x", "y")]
    return (
        [float(centres[0] - half), float(centres[0] + half)],
        [float(centres[1] - half), float(centres[1] + half)],
    )


def _legend_room(models: Sequence[str]) -> int:
    return 0 if len(models) < 2 else 30 + 24 * ((len(models) + 1) // 2)


def _axis(
    *, label_angle: float = 0, label_limit: int = 200, every_label: bool = False
) -> alt.Axis:
    """An axis with projector-sized fonts (set here: themes override config).

    With every_label, no label is dropped to avoid overlap: the heatmap's
    labels name answers, and a missing one cannot be guessed.
    """
    return alt.Axis(
        labelFontSize=FONT_SIZE,
        titleFontSize=FONT_SIZE,
        labelAngle=label_angle,
        labelLimit=label_limit,
        labelOverlap=not every_label,
    )


def _prompt_by_variant(completions: Sequence[Completion]) -> dict[str, str]:
    return {c.request.variant_id: c.request.prompt for c in completions}


def _styled(chart: ChartT) -> ChartT:
    """Projector-sized fonts for whatever the encodings leave unset."""
    styled = (
        chart.configure_axis(labelFontSize=FONT_SIZE, titleFontSize=FONT_SIZE)
        .configure_legend(
            labelFontSize=FONT_SIZE, titleFontSize=FONT_SIZE, labelLimit=320
        )
        .configure_title(fontSize=TITLE_SIZE)
    )
    return cast(ChartT, styled)
