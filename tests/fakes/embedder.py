"""A fast, deterministic embedder for tests, and the shared embedder fixtures.

``FakeEmbedder`` hashes words and character trigrams into a fixed-size vector and
normalises it: texts sharing words are similar, identical texts are identical, and
nothing depends on a model. Its window is small (``max_tokens``, default 32 "word
pieces" = words and punctuation marks) so chunking is easy to exercise. It counts
calls and embedded texts so tests can check batching and caching.

``real_embedder`` loads the real all-MiniLM-L6-v2 once per test session.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from evals.embedding.sentence_embedder import SentenceTransformerEmbedder
from evals.protocols import Vectors

_TOKEN = re.compile(r"\w+|[^\w\s]")


class FakeEmbedder:
    def __init__(self, *, dim: int = 256, max_tokens: int = 32) -> None:
        self.dim = dim
        self._max_tokens = max_tokens
        self.calls = 0
        self.embedded: list[str] = []

    @property
    def name(self) -> str:
        return "fake-hashed-bag-of-words"

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, text: str) -> int:
        return len(_TOKEN.findall(text))

    def _bucket(self, feature: str) -> tuple[int, float]:
        digest = hashlib.sha256(feature.encode()).digest()
        index = int.from_bytes(digest[:4], "big") % self.dim
        sign = 1.0 if digest[4] % 2 else -1.0
        return index, sign

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float64)
        # Like the real model, only the first max_tokens word pieces are read.
        tokens = [t.lower() for t in _TOKEN.findall(text)][: self._max_tokens - 2]
        for token in tokens:
            index, sign = self._bucket("w:" + token)
            vec[index] += sign * 2.0
            padded = f"#{token}#"
            for k in range(len(padded) - 2):
                index, sign = self._bucket("c:" + padded[k : k + 3])
                vec[index] += sign * 0.5
        norm = float(np.linalg.norm(vec))
        if norm == 0.0:
            vec[0] = 1.0
            return vec
        return vec / norm

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        self.embedded.extend(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vector(t) for t in texts]).astype(np.float32)


class RendezvousEmbedder(FakeEmbedder):
    """A :class:`FakeEmbedder` whose first ``parties`` calls to ``embed`` wait for each
    other (up to ``timeout_s``) before answering: callers in different threads leave it
    together, so whatever each does next (an insert) happens concurrently."""

    def __init__(self, parties: int = 2, *, timeout_s: float = 10.0) -> None:
        super().__init__()
        self._barrier = threading.Barrier(parties)
        self._waiting = parties
        self._lock = threading.Lock()
        self._timeout_s = timeout_s
        #: How many callers met at the rendezvous (``parties`` when it worked).
        self.met = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        with self._lock:
            meet = self._waiting > 0
            self._waiting -= 1
        if meet:
            try:
                self._barrier.wait(self._timeout_s)
            except threading.BrokenBarrierError:
                pass  # nobody came: go on alone (``met`` tells the test)
            else:
                with self._lock:
                    self.met += 1
        return super().embed(texts)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def real_embedder() -> Iterator[SentenceTransformerEmbedder]:
    """The real bundled all-MiniLM-L6-v2, loaded once for the whole test session."""
    embedder = SentenceTransformerEmbedder()
    embedder.load()
    yield embedder
