"""The Runs page: open a saved run and see every chart, without calling a model.

Runs are picked from the configured runs folder only (never a typed path), or
uploaded as a zip; both are read by variations.run_store.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from variations.errors import VariationsError
from variations.escaping import escape_markdown
from variations.run_view import list_runs, resolve_run, run_prompt_ids, runs_dir

if TYPE_CHECKING:
    from variations.report import SweepReport
    from variations.run_store import Run

CHOSEN = "run_chosen"
UPLOAD = "run_upload"
PROMPT_ID = "run_prompt"


def show() -> None:
    st.title("Saved runs")
    st.markdown(
        "Open a run written by `variations sweep` and read its charts, prompt "
        "by prompt. Everything comes from the run itself: no model is called."
    )
    run = _pick_run()
    if run is None:
        return
    _overview(run)
    prompt_ids = run_prompt_ids(run)
    prompt_id = st.selectbox("Prompt", prompt_ids, key=PROMPT_ID) or prompt_ids[0]
    _draw(_report(run, prompt_id))


def _pick_run() -> Run | None:
    folder = runs_dir()
    names = list_runs(folder)
    saved_column, upload_column = st.columns(2, gap="large")
    saved_column.selectbox(
        "Runs on this server",
        names,
        index=None,
        key=CHOSEN,
        placeholder="Pick a run…" if names else "No runs in the runs folder",
    )
    upload_column.file_uploader("Or upload a run as a zip", type=["zip"], key=UPLOAD)
    try:
        uploaded = st.session_state.get(UPLOAD)
        if uploaded is not None:
            return _load_uploaded(uploaded.getvalue())
        name = st.session_state.get(CHOSEN)
        if name:
            path = resolve_run(folder, name)
            return _load_saved(str(path), path.stat().st_mtime)
    # A damaged or hostile zip can fail inside numpy or pyarrow (ValueError).
    except (VariationsError, ValueError, OSError) as exc:
        st.error(f"This run cannot be opened: {exc}")
        return None
    st.info("Pick a run, or upload one, to see its charts.")
    return None


def _overview(run: Run) -> None:
    counts = run.manifest.get("counts") or {}
    started = str(run.manifest.get("started") or "an unknown time")
    models = ", ".join(
        f"`{escape_markdown(str(row.get('model')))}`" for row in run.models
    )
    st.caption(
        f"Run of {escape_markdown(started)}: {counts.get('answers', '?')} answers, "
        f"{counts.get('failures', '?')} failed. Models: {models or 'none'}."
    )


def _draw(report: SweepReport) -> None:
    from variations.ui import components

    components.headline(report)
    components.divergence_section(report)
    components.heatmap_section(report)
    components.map_section(report)
    components.compare_section(report.result, report.headline.variant_id)
    components.grid_section(report.result)


@st.cache_data(max_entries=4, show_spinner="Reading the run…")
def _load_saved(path: str, modified: float) -> Run:
    from variations.run_store import load_run

    return load_run(Path(path))


@st.cache_data(max_entries=4, show_spinner="Reading the run…")
def _load_uploaded(data: bytes) -> Run:
    from variations.run_store import load_run

    with tempfile.NamedTemporaryFile(suffix=".zip") as archive:
        archive.write(data)
        archive.flush()
        return load_run(Path(archive.name))


def _report(run: Run, prompt_id: str) -> SweepReport:
    # The end time tells a rewritten run folder from the one cached before.
    key = f"{run.source}|{run.manifest.get('ended')}"
    return _cached_report(key, prompt_id, _run=run)


@st.cache_data(max_entries=16, show_spinner="Drawing the charts…")
def _cached_report(key: str, prompt_id: str, *, _run: Run) -> SweepReport:
    from variations.report import build_report
    from variations.run_view import run_result

    return build_report(run_result(_run, prompt_id))
