"""The production adapters behind evals' ports: the litellm model client and the
sentence-transformers embedder. Tests never call these; they build :class:`Services`
with fakes instead."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from evals.embedder import SentenceTransformerEmbedder
from evals.ports import ModelClient
from evals.types import ChatMessage, ModelAnswer, PanelMember


def model_client() -> ModelClient:
    """The litellm client every model call goes through."""
    # Imported here, not at the top: importing litellm costs seconds of CPU (measured
    # 7 s of CPU on the CI machine), and most `quorum` commands never call a model.
    from evals.litellm_client import LiteLLMClient

    return LiteLLMClient()


class DeferredModelClient:
    """The litellm client, imported on its first call.

    For one-shot commands that may never call a model: `quorum digest`, the cases
    commands, and `quorum eval run --workers N`, whose worker processes make every call
    while the parent only plans, schedules and stores. The bot builds the client at
    start instead (:func:`model_client`), so no /compare pays for the import.

    The import (seconds of CPU) runs in a thread, off the event loop: a `quorum worker`
    keeps sending its heartbeat meanwhile, so the queue never takes it for dead.
    """

    def __init__(self) -> None:
        self._client: ModelClient | None = None
        self._lock = threading.Lock()

    async def complete(self, member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        return await (await self._loaded()).complete(member, messages)

    async def warm_up(self) -> None:
        """Import litellm and do its lazy first-call work now (no network request)."""
        warm_up = getattr(await self._loaded(), "warm_up", None)
        if warm_up is not None:
            await warm_up()

    async def _loaded(self) -> ModelClient:
        if self._client is not None:
            return self._client
        return await asyncio.to_thread(self._load)

    def _load(self) -> ModelClient:
        with self._lock:
            if self._client is None:
                self._client = model_client()
            return self._client


class NoModelCalls:
    """The model client of a command that calls no model (the digest): it holds no keys,
    and a call is a bug, said as one rather than sent to a provider without its key."""

    async def complete(self, member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        raise RuntimeError(f"this command calls no model, yet {member.name} was asked")


def sentence_embedder(model: str | None = None) -> SentenceTransformerEmbedder:
    """The embedder, not loaded yet (``load()`` or ``start_loading()`` it)."""
    return SentenceTransformerEmbedder(model)
