from __future__ import annotations

import json

import numpy as np
import pytest

from variations import charts
from variations.records import BASELINE_ID
from variations.significance import analyse_sweep

from .results import make_result


def layers_of(spec: dict) -> list[dict]:  # type: ignore[type-arg]
    return spec.get("layer", [spec])


def data_of(spec: dict) -> list[dict]:  # type: ignore[type-arg]
    return [row for rows in spec["datasets"].values() for row in rows]


def test_shift_frame_has_one_row_per_model_and_variant() -> None:
    frame = charts.shift_frame(make_result())

    assert len(frame) == 3 * 2
    assert set(frame["label"]) == {"Polite", "Hostile", "Child"}
    assert frame["prompt"].str.len().max() <= charts.TOOLTIP_CHARS
    assert frame["noise_floor"].isna().all()


def test_divergence_chart_sorts_bars_and_colours_models_colour_blind_safely() -> None:
    spec = charts.divergence_chart(make_result(samples=2)).to_dict()

    bars = next(layer for layer in layers_of(spec) if layer["mark"]["type"] == "bar")
    assert bars["encoding"]["y"]["sort"][0] == "Hostile"
    color = bars["encoding"]["color"]["scale"]
    assert color == {
        "domain": ["model-a", "model-b"],
        "range": list(charts.PALETTE[:2]),
    }
    tooltips = {t["title"] for t in bars["encoding"]["tooltip"]}
    assert {"Variant", "Model", "Shift", "Prompt sent"} <= tooltips
    # With samples, a dashed noise-floor rule per model.
    assert any(layer["mark"].get("type") == "rule" for layer in layers_of(spec))


def test_heatmap_compares_every_pair_of_variants_over_their_samples() -> None:
    result = make_result(samples=2)

    spec = charts.heatmap_chart(result, "model-b").to_dict()
    frame = charts.heatmap_frame(result, "model-b")

    assert len(data_of(spec)) == 4 * 4
    assert set(frame["answer_a"]) == {"Original", "Polite", "Hostile", "Child"}
    # The diagonal is how far one prompt's repeated samples lie apart.
    diagonal = frame[frame["answer_a"] == frame["answer_b"]]["distance"]
    assert (diagonal > 0).all()
    hostile = frame[
        (frame["answer_a"] == "Original") & (frame["answer_b"] == "Hostile")
    ]
    assert hostile["distance"].iloc[0] > diagonal.max()


def test_heatmap_of_single_samples_has_a_zero_diagonal() -> None:
    frame = charts.heatmap_frame(make_result(), "model-a")

    diagonal = frame[frame["answer_a"] == frame["answer_b"]]["distance"]
    assert diagonal.tolist() == [0.0] * 4


def test_answer_map_has_a_point_per_model_and_variant_and_marks_the_baseline() -> None:
    result = make_result(samples=3)

    frame = charts.answer_map_frame(result)
    spec = charts.answer_map_chart(result).to_dict()

    assert len(frame) == 4 * 2
    baseline = frame[frame["variant"] == BASELINE_ID]
    assert set(baseline["kind"]) == {"Original prompt"}
    assert np.allclose(
        baseline[["x", "y"]].to_numpy(), baseline[["x0", "y0"]].to_numpy()
    )
    assert "Coffee is fine" in frame["preview"].iloc[0]
    assert list(frame["shown_label"]) == list(frame["label"])
    assert json.dumps(spec)  # a valid, serialisable Vega-Lite spec


def test_answer_map_of_one_model() -> None:
    frame = charts.answer_map_frame(make_result(), ["model-b"])

    assert set(frame["model"]) == {"model-b"}
    assert len(frame) == 4


def test_a_crowded_map_names_only_the_baseline_and_the_most_moved() -> None:
    from variations.variants import load_library

    variants = load_library().variants[:12]
    result = make_result(
        variants=variants,
        models=("model-a", "model-b", "model-c"),
        answer=lambda r: f"{r.variant_id} {r.model} says {len(r.prompt)} things",
    )

    frame = charts.answer_map_frame(result)

    assert len(frame) == 13 * 3 > charts.MAX_MAP_LABELS
    named = frame[frame["shown_label"] != ""]
    assert set(named[named["kind"] == "Original prompt"]["model"]) == {
        "model-a",
        "model-b",
        "model-c",
    }
    per_model = named[named["kind"] == "Variant"].groupby("model").size()
    assert per_model.tolist() == [charts.MAP_LABELS_PER_MODEL] * 3


def test_failed_answers_are_left_off_the_charts() -> None:
    result = make_result(fail=lambda r: "down" if r.variant_id == "child" else None)

    assert "Child" not in set(charts.shift_frame(result)["label"])
    assert "child" not in set(charts.answer_map_frame(result)["variant"])


@pytest.mark.parametrize("count", [0, 1, 2, 5])
def test_projection_handles_few_points(count: int) -> None:
    vectors = np.eye(count, 8)

    projected = charts.project_2d(vectors)

    assert projected.shape == (count, 2)
    assert np.isfinite(projected).all()


def test_projection_keeps_the_main_direction_and_a_fixed_sign() -> None:
    vectors = np.array([[0.0, 0], [1, 0], [2, 0.1], [3, 0]])

    projected = charts.project_2d(vectors)
    flipped = charts.project_2d(-vectors)

    assert np.allclose(projected, flipped)
    assert np.argmax(np.abs(projected[:, 0])) in (0, 3)


def test_with_samples_the_noise_floor_is_a_band_and_clear_shifts_are_outlined() -> None:
    result = make_result(models=("model-a",), samples=4)

    spec = charts.divergence_chart(result, analyse_sweep(result)).to_dict()

    marks = [layer["mark"]["type"] for layer in layers_of(spec)]
    assert marks[:2] == ["rect", "rule"]  # band and its edge, under the bars
    outlines = [
        layer for layer in layers_of(spec) if layer["mark"].get("filled") is False
    ]
    assert len(outlines) == 1
    frame = charts.shift_frame(result, analyse_sweep(result))
    assert frame["significant"].all()
    assert (frame["p_value"] < 0.05).all()


def test_too_few_samples_to_test_draw_the_band_but_no_outline() -> None:
    result = make_result(models=("model-a",), samples=2)

    spec = charts.divergence_chart(result, analyse_sweep(result)).to_dict()

    assert "rect" in [layer["mark"]["type"] for layer in layers_of(spec)]
    assert not any(layer["mark"].get("filled") is False for layer in layers_of(spec))
    frame = charts.shift_frame(result, analyse_sweep(result))
    assert set(frame["verdict"]) == {"no: re-asking moves it as much"}
