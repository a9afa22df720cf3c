"""The Runs page under AppTest: a saved run's charts, with no model called."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from .apptest import Boundary, patched_boundary, runs_page
from .test_run_view import write_run


@pytest.fixture
def boundary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Boundary]:
    yield from patched_boundary(tmp_path, monkeypatch)


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, boundary: Boundary) -> Path:
    folder = tmp_path / "runs"
    folder.mkdir()
    monkeypatch.setenv("VARIATIONS_RUNS_DIR", str(folder))
    write_run(folder / "first", boundary.embedder)
    boundary.encoder.calls.clear()
    return folder


def open_page() -> AppTest:
    return AppTest.from_function(runs_page, default_timeout=30).run()


def charts(app: AppTest) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(chart.proto.spec) for chart in app.get("vega_lite_chart")]


def test_a_saved_run_shows_every_chart_without_a_model(
    runs: Path, boundary: Boundary
) -> None:
    app = open_page()
    assert app.selectbox(key="run_chosen").options == ["first"]

    app.selectbox(key="run_chosen").set_value("first").run()

    assert not app.exception
    assert len(charts(app)) == 3
    assert "2 samples" not in app.subheader[0].value
    app.selectbox(key="run_prompt").set_value("tea").run()
    assert not app.exception
    assert boundary.completion.calls == []
    assert boundary.encoder.calls == []  # the run's own embeddings are used


def test_an_uploaded_zip_is_opened(
    runs: Path, boundary: Boundary, tmp_path: Path
) -> None:
    archive = shutil.make_archive(str(tmp_path / "first"), "zip", runs / "first")
    app = open_page()

    app.file_uploader(key="run_upload").set_value(
        ("first.zip", Path(archive).read_bytes(), "application/zip")
    )
    app.run()

    assert not app.exception
    assert len(charts(app)) == 3


def test_a_bad_zip_is_refused_with_a_reason(runs: Path, boundary: Boundary) -> None:
    app = open_page()

    app.file_uploader(key="run_upload").set_value(
        ("evil.zip", b"not a zip at all", "application/zip")
    )
    app.run()

    assert not app.exception
    assert "neither a run folder nor a zip of one" in app.error[0].value
