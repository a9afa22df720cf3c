"""The Explore page under AppTest, on a fake completion function and embedder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from variations.examples import DEFAULT_VARIANTS, EXAMPLE_PROMPTS
from variations.providers import LOCAL_MODEL
from variations.records import ChatRequest
from variations.tables import ERROR_MARK
from variations.ui import explore

from .apptest import Boundary, explore_page, patched_boundary


@pytest.fixture
def boundary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Boundary]:
    yield from patched_boundary(tmp_path, monkeypatch)


TIMEOUT_S = 30


def open_page(query: dict[str, str] | None = None) -> AppTest:
    app = AppTest.from_function(explore_page, default_timeout=TIMEOUT_S)
    for key, value in (query or {}).items():
        app.query_params[key] = value
    return app.run()


def run_sweep(app: AppTest) -> AppTest:
    return app.button(key="run").click().run()


def charts(app: AppTest) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(chart.proto.spec) for chart in app.get("vega_lite_chart")]


def test_the_form_opens_with_sensible_defaults(boundary: Boundary) -> None:
    app = open_page()

    assert not app.exception
    assert app.text_area(key="prompt").value == EXAMPLE_PROMPTS[0].prompt
    checked = {box.key for box in app.checkbox if box.value}
    assert checked == {f"variant_{v}" for v in DEFAULT_VARIANTS}
    assert app.multiselect(key="models").value == [LOCAL_MODEL]
    assert app.number_input(key="max_tokens").value == 64
    assert not app.button(key="run").disabled
    assert boundary.completion.calls == []


def test_the_default_run_draws_every_result(boundary: Boundary) -> None:
    app = run_sweep(open_page())

    assert not app.exception
    assert len(boundary.completion.calls) == len(DEFAULT_VARIANTS) + 1
    headline = app.subheader[0].value.replace("\\", "")
    assert headline.startswith("The “")
    assert f"version moved {LOCAL_MODEL}'s answer the most" in headline
    assert len(charts(app)) == 3
    assert [button.label for button in app.get("download_button")] == [
        "Results as CSV",
        "Results as JSON",
        "Variant set as YAML",
    ]
    grid = app.dataframe[0].value
    assert len(grid) == len(DEFAULT_VARIANTS) + 1
    assert app.query_params["variants"] == ",".join(
        v.id for v in explore.load_library().variants if v.id in DEFAULT_VARIANTS
    )
    assert not app.button(key="run").disabled


def test_an_example_fills_the_prompt(boundary: Boundary) -> None:
    app = open_page()

    app.selectbox(key="example").set_value(EXAMPLE_PROMPTS[4].prompt).run()

    assert app.text_area(key="prompt").value == EXAMPLE_PROMPTS[4].prompt


def test_select_all_in_a_category(boundary: Boundary) -> None:
    app = open_page()

    app.button(key="all_tone").click().run()

    tone = [v for v in explore.load_library().variants if v.category == "tone"]
    assert all(app.checkbox(key=f"variant_{v.id}").value for v in tone)
    app.button(key="none_tone").click().run()
    assert not any(app.checkbox(key=f"variant_{v.id}").value for v in tone)


def test_a_failed_cell_shows_its_error_in_place(boundary: Boundary) -> None:
    def script(request: ChatRequest) -> str:
        if request.variant_id == "hostile":
            raise RuntimeError("upstream said no")
        return f"answer to {request.variant_id}"

    boundary.completion.script = script
    app = run_sweep(open_page())

    assert not app.exception
    assert "1 of 7 requests failed" in app.warning[0].value
    answers = list(app.dataframe[0].value["Answer"])
    assert ERROR_MARK + "upstream said no" in answers

    app.selectbox(key="compare_variant").set_value("hostile").run()
    assert "upstream said no" in app.error[0].value


def test_failed_cells_keep_their_error_across_redraws(boundary: Boundary) -> None:
    boundary.completion.script = lambda request: (
        (_ for _ in ()).throw(RuntimeError("quota exhausted"))
        if request.variant_id == "polite"
        else "fine"
    )
    app = run_sweep(open_page())

    app.selectbox(key="compare_variant").set_value("child").run()

    assert ERROR_MARK + "quota exhausted" in list(app.dataframe[0].value["Answer"])


def test_a_share_link_round_trips_with_results_from_the_cache(
    boundary: Boundary,
) -> None:
    first = open_page()
    first.text_area(key="prompt").set_value("Is tea better than coffee?")
    first.checkbox(key="variant_shouting").check()
    first.slider(key="samples").set_value(2)
    run_sweep(first.run())
    query = dict(first.query_params)
    calls = len(boundary.completion.calls)

    shared = open_page(query)

    assert not shared.exception
    assert shared.text_area(key="prompt").value == "Is tea better than coffee?"
    assert shared.checkbox(key="variant_shouting").value
    assert shared.slider(key="samples").value == 2
    assert len(charts(shared)) == 3
    assert len(boundary.completion.calls) == calls  # nothing sent again


def test_a_share_link_not_in_the_cache_restores_the_form_only(
    boundary: Boundary,
) -> None:
    app = open_page(
        {"prompt": "Never asked", "variants": "child", "models": LOCAL_MODEL}
    )

    assert app.text_area(key="prompt").value == "Never asked"
    assert [box.key for box in app.checkbox if box.value] == ["variant_child"]
    assert charts(app) == []
    assert boundary.completion.calls == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            {
                "prompt": "Hi",
                "variants": "child",
                "models": LOCAL_MODEL,
                "api_base": "http://169.254.169.254/",
            },
            "settings the explorer does not take: 'api_base'",
        ),
        (
            {"prompt": "Hi", "variants": "child", "models": "openai/gpt-4o"},
            "names models that are not in this server's models",
        ),
        ({"prompt": "Hi", "variants": "nope", "models": LOCAL_MODEL}, "'nope'"),
    ],
)
def test_a_bad_share_link_is_refused_with_a_reason(
    boundary: Boundary, query: dict[str, str], message: str
) -> None:
    app = open_page(query)

    assert not app.exception
    assert message in app.warning[0].value
    assert app.text_area(key="prompt").value == EXAMPLE_PROMPTS[0].prompt


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda app: app.text_area(key="prompt").set_value("   "),
            "The prompt is empty",
        ),
        (
            lambda app: app.multiselect(key="models").set_value([]),
            "No model is selected",
        ),
        (
            lambda app: [
                app.button(key=f"none_{c}").click().run()
                for c in ("framing", "persona", "tone")
            ],
            "No variant is selected",
        ),
    ],
)
def test_bad_input_in_the_form_is_explained(
    boundary: Boundary,
    change,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    app = open_page()
    change(app)

    app = run_sweep(app.run())

    assert message in app.error[0].value
    assert boundary.completion.calls == []
    assert charts(app) == []


def test_a_sweep_too_large_for_the_server_is_refused(
    boundary: Boundary, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VARIATIONS_MAX_CELLS", "5")

    app = run_sweep(open_page())

    assert "would send 7 requests; this server allows 5" in app.error[0].value
    assert boundary.completion.calls == []


def test_a_click_while_a_sweep_runs_starts_no_second_sweep(
    boundary: Boundary,
) -> None:
    app = open_page()
    app.session_state["running"] = True
    app.session_state["pending_form"] = {
        "prompt": "Hi",
        "variants": ("child",),
        "models": (LOCAL_MODEL,),
    }

    app.button(key="run").click().run()

    # Only the sweep already under way was sent: 2 cells, not the 7 on the form.
    assert {call.variant_id for call in boundary.completion.calls} == {
        "original",
        "child",
    }
    assert len(boundary.completion.calls) == 2
    assert not app.session_state["running"]
    assert not app.button(key="run").disabled


def locked_form() -> None:
    import streamlit as st

    from variations.ui import explore, resources

    st.session_state["running"] = True
    settings = resources.get_settings()
    explore._set_defaults(settings)
    explore._form(settings, explore.load_library())


def test_while_a_sweep_runs_the_form_is_locked(boundary: Boundary) -> None:
    app = AppTest.from_function(locked_form, default_timeout=TIMEOUT_S).run()

    assert app.button(key="run").disabled
    assert app.button(key="run").label == "Running…"
    assert app.text_area(key="prompt").disabled
    assert app.checkbox(key="variant_child").disabled
    assert app.multiselect(key="models").disabled


def test_with_samples_the_chart_shows_the_noise_and_what_stands_clear(
    boundary: Boundary,
) -> None:
    app = open_page()
    app.slider(key="samples").set_value(4)

    app = run_sweep(app.run())

    assert not app.exception
    divergence = charts(app)[0]
    assert [layer["mark"]["type"] for layer in divergence["layer"]][:2] == [
        "rect",
        "rule",
    ]
    captions = " ".join(caption.value for caption in app.caption)
    assert "Shaded band up to the dashed line" in captions
    # The fake answers each prompt the same way every time: every shift is clear.
    assert "Outlined bars stand clear of that noise" in captions
    assert any(layer["mark"].get("filled") is False for layer in divergence["layer"])


def test_when_nothing_stands_clear_of_the_noise_the_headline_says_so(
    boundary: Boundary,
) -> None:
    words = ["apples and pears", "rockets to the stars", "a b c", "dogs bark"]
    boundary.completion.script = lambda request: words[request.sample]
    app = open_page()
    app.slider(key="samples").set_value(4)

    app = run_sweep(app.run())

    assert not app.exception
    assert app.subheader[0].value.replace("\\", "") == (
        f"None of the variants moved {LOCAL_MODEL}'s answer more than re-asking "
        "the same prompt does."
    )
    captions = " ".join(caption.value for caption in app.caption)
    assert "Outlined bars" not in captions


def test_model_written_variants_are_shown_before_they_are_sent(
    boundary: Boundary,
) -> None:
    def script(request: ChatRequest) -> str:
        if request.category == "rewriting" and "angry" in request.prompt:
            return "Rewritten text: Why won't anyone tell me if I should quit?!"
        if request.category == "rewriting":
            return "Bananas grow in warm places."
        return f"On {request.variant_id}: an answer"

    boundary.completion.script = script
    app = open_page()
    for variant_id in DEFAULT_VARIANTS:
        app.checkbox(key=f"variant_{variant_id}").uncheck()
    app.checkbox(key="variant_angry_customer").check()
    app.checkbox(key="variant_paraphrase").check()
    app.run()
    before = " ".join(caption.value for caption in app.caption).replace("\\", "")

    written = run_sweep(app)

    assert "Written by local/smollm2-135m when you press Run" in before
    assert not written.exception
    assert [r.category for r in boundary.completion.calls] == ["rewriting", "rewriting"]
    assert written.info[0].value.startswith("The model-written versions are ready")
    codes = [code.value for code in written.code]
    assert "Why won't anyone tell me if I should quit?!" in codes
    assert "drifted from your prompt's meaning" in written.warning[0].value.replace(
        "\\", ""
    )

    sent = run_sweep(written)

    assert not sent.exception
    answered = [r for r in boundary.completion.calls if r.category != "rewriting"]
    assert {r.prompt for r in answered if r.variant_id == "angry_customer"} == {
        "Why won't anyone tell me if I should quit?!"
    }
    assert len(answered) == 3
    headline = sent.subheader[0].value.replace("\\", "")
    assert headline.startswith("Every version that got a measured shift was written")
    note = " ".join(caption.value for caption in sent.caption)
    assert "Left out as drifted from the prompt's meaning" in note.replace("\\", "")
