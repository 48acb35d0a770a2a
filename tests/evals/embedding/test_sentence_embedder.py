"""The sentence-transformers adapter (real model, loaded once per session)."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from evals.embedding.bert_encoder import BertEncoder
from evals.embedding.sentence_embedder import SentenceTransformerEmbedder, default_model_path
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


# The bundled model runs on the lean torch-only encoder; these hold it to exactly what
# sentence-transformers computes for the same model (the consensus and the shipped
# calibrator were built on sentence-transformers' vectors).
EQUIVALENCE_TEXTS = [
    "",
    "Paris is the capital of France.",
    "Use exponential backoff with jitter; retry after the Retry-After header says so.",
    "Ünïcödé, emoji 🚀, CJK 東京, and a URL https://example.com/a?b=c#d",
    "word " * 600,  # cut at the model's 256 word pieces, like sentence-transformers cuts it
    " ".join(f"token{i}" for i in range(90)),
    "The answer is 42.\n\n```python\nprint(6 * 7)\n```",
]


def test_bundled_model_runs_without_sentence_transformers(
    real_embedder: SentenceTransformerEmbedder,
) -> None:

    assert isinstance(real_embedder._model, BertEncoder)


def test_lean_encoder_matches_sentence_transformers(
    real_embedder: SentenceTransformerEmbedder,
) -> None:

    reference = SentenceTransformer(default_model_path(), device="cpu")
    expected = reference.encode(
        EQUIVALENCE_TEXTS, batch_size=4, convert_to_numpy=True, normalize_embeddings=True
    )
    lean = SentenceTransformerEmbedder(cache_size=0, batch_size=4)
    lean._model = real_embedder._model
    got = lean.embed(EQUIVALENCE_TEXTS)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < 1e-5
    assert lean.max_tokens == reference.max_seq_length
    for text in EQUIVALENCE_TEXTS:
        ids = reference.tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)
        assert lean.count_tokens(text) == len(ids["input_ids"])


def test_other_models_load_through_sentence_transformers(tmp_path: Path) -> None:
    # The same weights, pooled by CLS instead of the mean: not a model the lean encoder
    # computes, so sentence-transformers runs it (and its vectors differ).

    copy = tmp_path / "cls-pooled"
    shutil.copytree(default_model_path(), copy)
    pooling = copy / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    config.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    pooling.write_text(json.dumps(config))
    embedder = SentenceTransformerEmbedder(str(copy), cache_size=0)
    vectors = embedder.embed(["Paris is the capital of France.", "Stock prices fell."])
    assert type(embedder._model).__name__ == "_SentenceTransformersEncoder"
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.count_tokens("hello world") == 2
