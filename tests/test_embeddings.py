"""The packaged embedding model, for real: quality, equivalence, caching."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from variations.embeddings import (
    EMBEDDING_DIM,
    Embedder,
    MeanPoolingEncoder,
    load_encoder,
    packaged_model_path,
)

DATA = Path(__file__).parent / "data" / "stsb-en-test.csv"
pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def encoder():  # type: ignore[no-untyped-def]
    return load_encoder()


def test_similarity_tracks_human_judgement_on_sts_benchmark(
    encoder, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    with DATA.open(newline="", encoding="utf-8") as stream:
        rows = [(a, b, float(score)) for a, b, score in csv.reader(stream)]
    embedder = Embedder(tmp_path, encoder=encoder)

    first = embedder.embed([a for a, _, _ in rows])
    second = embedder.embed([b for _, b, _ in rows])
    similarity = np.sum(first * second, axis=1)

    correlation = spearmanr(similarity, [score for _, _, score in rows]).statistic
    assert len(rows) == 1379
    assert correlation >= 0.815, f"Spearman {correlation:.4f} below 0.815"


def test_lean_encoder_matches_sentence_transformers() -> None:
    from sentence_transformers import SentenceTransformer

    sentences = [
        "The cat sat on the mat.",
        "Quantum computers use qubits.",
        "",
        "ok " * 400,
    ]
    reference = SentenceTransformer(str(packaged_model_path()), device="cpu").encode(
        sentences, normalize_embeddings=True
    )

    ours = MeanPoolingEncoder(packaged_model_path()).encode(sentences, batch_size=2)

    assert ours.shape == (4, EMBEDDING_DIM)
    np.testing.assert_allclose(ours, reference, atol=2e-5)


def test_vectors_are_normalised_and_cached(encoder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    calls: list[list[str]] = []

    class Counting:
        def encode(self, sentences, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(list(sentences))
            return encoder.encode(sentences, **kwargs)

    first = Embedder(tmp_path, encoder=Counting()).embed(["alpha", "beta", "alpha"])
    again = Embedder(tmp_path, encoder=Counting()).embed(["beta", "alpha"])

    assert calls == [["alpha", "beta"]]
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(again, first[[1, 0]])


def test_preload_overlaps_and_yields_the_same_model(tmp_path: Path) -> None:
    embedder = Embedder(tmp_path)
    embedder.preload()

    vectors = embedder.embed(["hello there"])

    assert vectors.shape == (1, EMBEDDING_DIM)
    assert embedder._get_encoder() is load_encoder()
