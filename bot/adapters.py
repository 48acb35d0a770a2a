"""The production adapters behind evals' ports: the litellm model client and the
sentence-transformers embedder. Tests never call these; they build :class:`Services`
with fakes instead."""

from __future__ import annotations

from evals.embedder import SentenceTransformerEmbedder
from evals.ports import ModelClient


def model_client() -> ModelClient:
    """The litellm client every model call goes through."""
    # Imported here, not at the top: importing litellm costs seconds of CPU (measured
    # 7 s of CPU on the CI machine), and most `quorum` commands never call a model.
    from evals.litellm_client import LiteLLMClient

    return LiteLLMClient()


def sentence_embedder(model: str | None = None) -> SentenceTransformerEmbedder:
    """The embedder, not loaded yet (``load()`` or ``start_loading()`` it)."""
    return SentenceTransformerEmbedder(model)
