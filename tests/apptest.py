"""Running the app's pages under AppTest with the library patched at its boundary."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import streamlit as st

from variations.cache import CompletionCache
from variations.embeddings import Embedder
from variations.settings import load_settings
from variations.ui import resources

from .conftest import FakeCompletion, FakeEncoder


@dataclass
class Boundary:
    """The fakes behind the app's resource getters, for tests to inspect."""

    completion: FakeCompletion
    encoder: FakeEncoder
    cache: CompletionCache
    embedder: Embedder


def patched_boundary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Boundary]:
    """Patch the app's resource getters with fakes (use inside a fixture)."""
    cache_dir = tmp_path / "cache"
    encoder = FakeEncoder()
    fakes = Boundary(
        completion=FakeCompletion(lambda r: f"On {r.variant_id}: {r.prompt[-40:]}"),
        encoder=encoder,
        cache=CompletionCache(cache_dir),
        embedder=Embedder(cache_dir, encoder=encoder),
    )
    monkeypatch.setattr(resources, "get_completion_fn", lambda: fakes.completion)
    monkeypatch.setattr(resources, "get_cache", lambda: fakes.cache)
    monkeypatch.setattr(resources, "get_embedder", lambda: fakes.embedder)
    monkeypatch.setattr(resources, "get_settings", lambda: load_settings())
    monkeypatch.setattr(resources, "warm_up", lambda: None)
    st.cache_data.clear()  # reports cached by an earlier test's fakes
    yield fakes
    fakes.cache.close()


def explore_page() -> None:
    from variations.ui import explore

    explore.show()


def about_page() -> None:
    from variations.ui import about

    about.show()


def variant_sets_page() -> None:
    from variations.ui import variant_sets_page

    variant_sets_page.show()


def runs_page() -> None:
    from variations.ui import runs

    runs.show()
