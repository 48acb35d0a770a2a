"""The sentence-transformers adapter (real model, loaded once per session)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from evals.embedder import SentenceTransformerEmbedder
from evals.errors import ConfigError

pytestmark = pytest.mark.slow


def test_embeds_unit_float32_rows_in_order(real_embedder: SentenceTransformerEmbedder) -> None:
    texts = ["The sky is blue.", "The colour of the sky is blue.", "Stock prices fell sharply."]
    vectors = real_embedder.embed(texts)
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # Order is kept: the two sky sentences are closer to each other than to stocks.
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert real_embedder.embed([]).shape == (0, 384)


def test_cache_returns_the_same_vectors(real_embedder: SentenceTransformerEmbedder) -> None:
    first = real_embedder.embed(["cache me once", "cache me twice"])
    size = real_embedder.cache_size
    again = real_embedder.embed(["cache me twice", "cache me once", "cache me twice"])
    assert real_embedder.cache_size == size  # nothing new was computed
    assert np.array_equal(again[0], first[1]) and np.array_equal(again[1], first[0])
    assert np.array_equal(again[0], again[2])


def test_window_and_token_count(real_embedder: SentenceTransformerEmbedder) -> None:
    assert real_embedder.max_tokens == 256
    assert real_embedder.name == "all-MiniLM-L6-v2"
    assert real_embedder.count_tokens("") == 0
    assert real_embedder.count_tokens("hello world") == 2
    long = "word " * 600
    assert real_embedder.count_tokens(long) == 600  # counted in full, not cut at 256


def test_lru_cache_is_bounded(real_embedder: SentenceTransformerEmbedder) -> None:
    small = SentenceTransformerEmbedder(cache_size=2)
    small._model = real_embedder._model  # share the loaded weights: no second load
    small.embed(["one", "two", "three"])
    assert small.cache_size == 2


def test_loading_is_idempotent_and_thread_safe(
    real_embedder: SentenceTransformerEmbedder,
) -> None:
    real_embedder.load()
    model = real_embedder._model
    threads = [threading.Thread(target=real_embedder.load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert real_embedder._model is model
    loader = real_embedder.start_loading()
    loader.join(timeout=5)
    assert real_embedder.loaded


def test_a_missing_model_is_a_clear_config_error(tmp_path: object) -> None:
    embedder = SentenceTransformerEmbedder(f"{tmp_path}/no-such-model")
    with pytest.raises(ConfigError) as info:
        embedder.embed(["x"])
    assert "could not be loaded" in info.value.user_message
    assert not embedder.loaded


def test_bad_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="cache size"):
        SentenceTransformerEmbedder(cache_size=-1)
    with pytest.raises(ConfigError, match="batch size"):
        SentenceTransformerEmbedder(batch_size=0)
    with pytest.raises(ConfigError, match="thread count"):
        SentenceTransformerEmbedder(threads=0)
