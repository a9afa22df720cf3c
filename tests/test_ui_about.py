"""The About page, and the app's navigation, under AppTest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from variations.embeddings import EMBEDDING_MODEL
from variations.providers import LOCAL_MODEL

from .apptest import Boundary, about_page, patched_boundary


@pytest.fixture
def boundary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Boundary]:
    yield from patched_boundary(tmp_path, monkeypatch)


APP = Path(__file__).resolve().parent.parent / "app.py"


def test_about_explains_the_method_and_lists_this_servers_models(
    boundary: Boundary, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VARIATIONS_MODELS", "openai/gpt-4o-mini")
    monkeypatch.setenv("VARIATIONS_API_BASE", "http://10.0.0.7:8000/v1")

    app = AppTest.from_function(about_page).run()

    assert not app.exception
    text = " ".join(" ".join(element.value for element in app.markdown).split())
    assert EMBEDDING_MODEL in text
    assert "1 minus the cosine similarity" in text
    assert "noise floor" in text.lower()
    assert "`openai/gpt-4o-mini`" in text and f"`{LOCAL_MODEL}`" in text
    assert "10.0.0.7" not in text  # the API base stays on the server


def test_the_app_opens_on_the_explore_page(boundary: Boundary) -> None:
    app = AppTest.from_file(str(APP), default_timeout=30).run()

    assert not app.exception
    assert app.title[0].value == "How does the way you ask change the answer?"
