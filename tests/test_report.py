from __future__ import annotations

import json
import pickle

from variations.report import build_report

from .results import make_result


def test_a_report_holds_every_chart_as_plain_vega_lite() -> None:
    report = build_report(make_result())

    assert report.headline.variant_id == "hostile"
    assert report.divergence is not None and "layer" in report.divergence
    assert set(report.heatmaps) == {"model-a", "model-b"}
    assert list(report.maps) == ["All models", "model-a", "model-b"]
    json.dumps([report.divergence, report.heatmaps, report.maps])


def test_a_report_survives_pickling_for_the_cache() -> None:
    report = build_report(make_result(samples=2))

    copy = pickle.loads(pickle.dumps(report))

    assert copy.headline == report.headline
    assert copy.result.shifts == report.result.shifts


def test_charts_with_nothing_to_draw_are_left_out() -> None:
    report = build_report(make_result(fail=lambda request: "down"))

    assert report.divergence is None
    assert report.heatmaps == {}
    assert report.maps == {}
