"""The Variant sets page under AppTest: write, preview, save, open, upload, use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from variations.cache import default_cache_dir
from variations.variant_sets import VariantSetStore, variant_sets_dir
from variations.variants import load_library

from .apptest import Boundary, explore_page, patched_boundary, variant_sets_page


@pytest.fixture
def boundary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Boundary]:
    yield from patched_boundary(tmp_path, monkeypatch)


TIMEOUT_S = 30


def open_page() -> AppTest:
    return AppTest.from_function(variant_sets_page, default_timeout=TIMEOUT_S).run()


def store() -> VariantSetStore:
    return VariantSetStore(variant_sets_dir(default_cache_dir()))


def test_the_editor_previews_a_variant_on_a_sample_prompt(boundary: Boundary) -> None:
    app = open_page()

    app.text_area(key="vs_template").set_value("Arr! {prompt} Arr!").run()

    assert not app.exception
    assert app.code[0].value == "Arr! Should I learn Python or JavaScript first? Arr!"


def test_a_bad_template_is_explained_and_not_added(boundary: Boundary) -> None:
    app = open_page()
    app.text_area(key="vs_template").set_value("no placeholder").run()

    app.button(key="vs_add").click().run()

    assert "template: template must contain {prompt} exactly once" in (
        app.error[0].value
    )
    assert app.session_state["vs_custom"] == []


def test_a_set_is_written_saved_and_opened_again(boundary: Boundary) -> None:
    app = open_page()
    app.multiselect(key="vs_builtin").set_value(["polite"])
    app.button(key="vs_add").click().run()
    app.text_input(key="vs_name").set_value("pirates").run()

    app.button(key="vs_save").click().run()

    assert not app.exception
    assert "Saved the set 'pirates'" in app.success[0].value
    saved = store().load("pirates")
    assert [variant.id for variant in saved] == ["polite", "pirate"]

    fresh = open_page()
    fresh.selectbox(key="vs_saved").set_value("pirates")
    fresh.button(key="vs_open").click().run()
    assert fresh.multiselect(key="vs_builtin").value == ["polite"]
    assert [f["id"] for f in fresh.session_state["vs_custom"]] == ["pirate"]


def test_a_malformed_upload_names_file_line_and_field(boundary: Boundary) -> None:
    app = open_page()
    text = b"variants:\n  - id: a\n    label: A\n    intent: keep\n    evil: 1\n"

    app.file_uploader(key="vs_upload").set_value(("mine.yaml", text, "text/yaml"))
    app.run()

    assert not app.exception
    assert "mine.yaml, line 5: variants[0].evil: Extra inputs are not permitted" in (
        app.error[0].value
    )


def test_an_uploaded_set_is_opened(boundary: Boundary) -> None:
    app = open_page()
    text = (
        b"version: 1\nvariants:\n  - id: yoda\n    label: Yoda\n"
        b"    description: Inverted.\n    template: 'Ask you I do: {prompt}'\n"
        b"    intent: keep\n"
    )

    app.file_uploader(key="vs_upload").set_value(("yoda.yaml", text, "text/yaml"))
    app.run()

    assert "Opened 'yoda.yaml'" in app.success[0].value
    assert app.session_state["vs_custom"][0]["template"] == "Ask you I do: {prompt}"
    assert app.text_input(key="vs_name").value == "yoda"


def test_a_set_in_use_is_selected_on_the_explore_page(boundary: Boundary) -> None:
    app = open_page()
    app.multiselect(key="vs_builtin").set_value(["child"])
    app.button(key="vs_add").click().run()
    app.text_input(key="vs_name").set_value("mine").run()
    app.button(key="vs_use").click().run()
    assert "is in use" in app.success[0].value

    explore = AppTest.from_function(explore_page, default_timeout=TIMEOUT_S)
    explore.session_state["active_variant_set"] = app.session_state[
        "active_variant_set"
    ]
    for key in ("defaults_set", "variant_child", "variant_pirate", "variant_polite"):
        explore.session_state[key] = app.session_state[key]
    explore.run()

    assert not explore.exception
    checked = {box.key for box in explore.checkbox if box.value}
    assert checked == {"variant_child", "variant_pirate"}
    assert len(explore.checkbox) == len(load_library().variants) + 1

    explore.button(key="run").click().run()
    assert {call.variant_id for call in boundary.completion.calls} == {
        "original",
        "child",
        "pirate",
    }


def test_a_model_written_variant_is_written_saved_and_read_back(
    boundary: Boundary,
) -> None:
    app = open_page()
    app.radio(key="vs_kind").set_value("instruction").run()
    app.text_input(key="vs_id").set_value("pirate_voice")
    app.text_area(key="vs_instruction").set_value("Rewrite it as a pirate would.")
    app.run()
    preview = app.code[0].value

    app.button(key="vs_add").click().run()
    app.text_input(key="vs_name").set_value("pirates").run()
    app.button(key="vs_save").click().run()

    assert not app.exception
    assert preview == (
        "Rewrite it as a pirate would.\n\nText: Should I learn Python or "
        "JavaScript first?"
    )
    [saved] = store().load("pirates")
    assert saved.is_rewrite and saved.instruction == "Rewrite it as a pirate would."
    assert "template" not in (store().folder / "pirates.yaml").read_text()
