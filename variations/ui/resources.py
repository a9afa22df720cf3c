"""The app's heavy, shared objects, each made once per server process.

Pages get the completion function, the caches, the embedder and the event loop
from here and nowhere else, so tests patch these getters at the boundary.
Nothing heavy is loaded to draw the first page: `warm_up` loads the models in
a background thread once the page has been sent.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import streamlit as st

from variations.background import BackgroundLoop
from variations.cache import CompletionCache, default_cache_dir
from variations.embeddings import Embedder
from variations.records import ChatRequest, CompletionFn, Reply
from variations.settings import ServerSettings, load_settings
from variations.variant_sets import VariantSetStore, variant_sets_dir

logger = logging.getLogger(__name__)


def get_settings() -> ServerSettings:
    """This server's models and limits (read from the environment: cheap)."""
    return load_settings()


def get_variant_sets() -> VariantSetStore:
    """The variant sets saved on this server (a folder of the cache directory)."""
    return VariantSetStore(variant_sets_dir(default_cache_dir()))


@st.cache_resource(show_spinner=False)
def get_cache() -> CompletionCache:
    return CompletionCache(default_cache_dir())


@st.cache_resource(show_spinner=False)
def get_embedder() -> Embedder:
    return Embedder(default_cache_dir())


@st.cache_resource(show_spinner=False)
def get_loop() -> BackgroundLoop:
    return BackgroundLoop()


def get_completion_fn() -> CompletionFn:
    """litellm, imported on the first call that misses the cache."""
    return _complete


def warm_up() -> None:
    """Load the embedder and the local model in the background, once per server."""
    _start_warm_up(get_embedder())


@st.cache_resource(show_spinner=False)
def _start_warm_up(_embedder: Embedder) -> threading.Thread:
    thread = threading.Thread(
        target=_load_models, args=(_embedder,), name="warm-up", daemon=True
    )
    thread.start()
    return thread


async def _complete(request: ChatRequest) -> Reply:
    from variations.providers import complete_with_litellm

    # Importing litellm takes seconds: keep it off the shared event loop.
    await asyncio.to_thread(_prepare_litellm)
    return await complete_with_litellm(request)


def _prepare_litellm() -> None:
    from variations.providers import import_litellm

    import_litellm()  # once per process; registers the local model too


def _load_models(embedder: Embedder) -> None:
    try:
        embedder.preload()
        _prepare_litellm()
        from variations.local_model import load_local_model

        load_local_model(default_cache_dir())
    except Exception:  # a failed warm-up only costs time: the first call retries
        logger.exception("warming up the models failed")
