"""Small drawing functions for the Explore page's results, one per section.

Each takes a finished SweepResult and draws it; the numbers, charts and tables
come from the library. Model text is shown only through st.dataframe, chart
data, or Markdown escaped by variations.escaping.
"""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from variations import summary, tables
from variations.escaping import escape_markdown, escape_markdown_lines
from variations.export import rows_to_csv_text, rows_to_json_text
from variations.records import BASELINE_ID, Completion
from variations.report import SweepReport
from variations.sharing import SweepForm
from variations.sweep import SweepResult
from variations.textdiff import count_changes, diff_markdown, word_diff
from variations.variant_sets import dump_variant_set


def headline(report: SweepReport) -> None:
    line, result = report.headline, report.result
    with st.container(border=True):
        st.subheader(escape_markdown(line.text), anchor=False)
        st.caption(
            "Shift: how different two answers are in meaning, from 0 (the same) "
            "up; above about 0.3 they say clearly different things. "
            + (line.note or "")
        )
    failures = result.failures
    if failures:
        st.warning(
            f"{len(failures)} of {len(result.completions)} requests failed; "
            "each failure is shown in place of its answer below."
        )


def divergence_section(report: SweepReport) -> None:
    result = report.result
    st.subheader("How far each version moved the answer")
    st.caption(
        "Each bar is the shift between a model's answer to that version and its "
        "answer to your prompt as typed. Longer bars: the wording mattered more. "
        "Hover a bar to read the exact prompt that was sent."
        + (
            " Shaded band up to the dashed line: how far an answer moves when the "
            "very same prompt is simply asked again (the noise floor)."
            if result.noise_floors
            else ""
        )
        + (
            " Outlined bars stand clear of that noise in a permutation test "
            "(p < 0.05, corrected for testing many variants at once)."
            if _any_significant(report)
            else ""
        )
    )
    if report.divergence is None:
        st.info("No variant could be compared with the original prompt.")
        return
    st.vega_lite_chart(report.divergence, width="stretch")


def heatmap_section(report: SweepReport) -> None:
    st.subheader("How different all the answers are from each other")
    st.caption(
        "Every answer of one model against every other. Dark squares: similar "
        "answers; bright squares: answers that say different things."
    )
    models = list(report.heatmaps)
    if not models:
        st.info("No model gave two answers to compare.")
        return
    model = models[0]
    if len(models) > 1:
        model = st.selectbox("Model", models, key="heatmap_model") or model
    st.vega_lite_chart(report.heatmaps[model], width="stretch")


def map_section(report: SweepReport) -> None:
    st.subheader("A map of all the answers")
    st.caption(
        "Each point is one answer (the average of its samples), placed so that "
        "answers with similar meaning sit close together; lines lead from the "
        "answer to your prompt as typed (the diamond). Hover a point to read "
        "the start of the answer."
    )
    if not report.maps:
        st.info("The map needs at least two answers.")
        return
    shown = next(iter(report.maps))
    if len(report.maps) > 1:
        shown = st.selectbox("Show", list(report.maps), key="map_models") or shown
    st.vega_lite_chart(report.maps[shown], width="stretch")


def compare_section(result: SweepResult, default_variant: str | None) -> None:
    st.subheader("The answers side by side")
    labels = summary.variant_labels(result)
    variant_ids = [variant.id for variant in result.spec.variants]
    models = list(result.spec.models)

    choose_variant, choose_model = st.columns(2)
    index = variant_ids.index(default_variant) if default_variant in variant_ids else 0
    variant_id = choose_variant.selectbox(
        "Compare the original with",
        variant_ids,
        index=index,
        format_func=lambda variant_id: labels[variant_id],
        key="compare_variant",
    )
    model = choose_model.selectbox("Model", models, key="compare_model")
    baseline = _first_answer(result, model, BASELINE_ID)
    changed = _first_answer(result, model, variant_id or variant_ids[0])

    left, right = st.columns(2)
    with left:
        st.markdown("**Your prompt as typed**")
        _answer(baseline)
    with right:
        st.markdown(f"**{escape_markdown(labels[changed.request.variant_id])}**")
        if baseline.ok and changed.ok:
            _diff(baseline.text, changed.text)
        else:
            _answer(changed)
    with st.expander("The two prompts that were sent"):
        st.code(baseline.request.prompt, language=None, wrap_lines=True)
        st.code(changed.request.prompt, language=None, wrap_lines=True)


def grid_section(result: SweepResult) -> None:
    st.subheader("All answers")
    frame = tables.answers_frame(result, summary.variant_labels(result))
    st.dataframe(
        frame,
        hide_index=True,
        column_config={
            "Shift": st.column_config.NumberColumn(format="%.3f", width="small"),
            "Answer": st.column_config.TextColumn(width="large"),
        },
    )


def downloads(result: SweepResult) -> None:
    rows = result.rows()
    csv_column, json_column, yaml_column = st.columns(3)
    csv_column.download_button(
        "Results as CSV",
        rows_to_csv_text(rows),
        file_name="variations.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
    )
    json_column.download_button(
        "Results as JSON",
        rows_to_json_text(rows),
        file_name="variations.json",
        mime="application/json",
        on_click="ignore",
        icon=":material/download:",
    )
    yaml_column.download_button(
        "Variant set as YAML",
        dump_variant_set(result.spec.variants),
        file_name="variant-set.yaml",
        mime="application/x-yaml",
        on_click="ignore",
        icon=":material/download:",
    )


def share_box(form: SweepForm, query: dict[str, str] | None) -> None:
    if query is None:
        st.caption("This prompt is too long to fit in a share link.")
        return
    base = (st.context.url or "").split("?", 1)[0]
    st.markdown("**Share this exploration**")
    st.code(f"{base}?{urlencode(query)}", language=None, wrap_lines=True)
    st.caption(
        "The link holds your prompt, variants, models and settings, nothing else. "
        "Whoever opens it sees the results at once while they stay in this "
        "server's cache."
    )


def _any_significant(report: SweepReport) -> bool:
    return any(
        row.significant
        for analysis in report.analyses.values()
        for row in analysis.variants
    )


def _first_answer(result: SweepResult, model: str, variant_id: str) -> Completion:
    return next(
        completion
        for completion in result.completions
        if completion.request.model == model
        and completion.request.variant_id == variant_id
    )


def _answer(completion: Completion) -> None:
    if completion.ok:
        st.markdown(escape_markdown_lines(completion.text) or "*(empty answer)*")
    else:
        st.error(escape_markdown_lines(completion.error or "failed"))


def _diff(before: str, after: str) -> None:
    segments = word_diff(before, after)
    added, removed = count_changes(segments)
    st.markdown(diff_markdown(segments) or "*(empty answer)*")
    st.caption(
        f"{added} words added (bold, blue) and {removed} removed (struck out, "
        "orange) compared with the answer to your prompt as typed."
    )
