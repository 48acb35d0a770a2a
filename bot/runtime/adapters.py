"""The production adapters behind evals' ports: the model clients (OpenAI-compatible
servers straight over HTTP, every other provider through litellm) and the
sentence-transformers embedder. Tests never call these; they build :class:`Services`
with fakes instead."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from bot.runtime.config import QuorumConfig
from evals.embedding.sentence_embedder import SentenceTransformerEmbedder
from evals.models.openai_compatible import OpenAICompatibleClient
from evals.models.provider_calls import RetryPolicy
from evals.models.rate_limits import LimitedClient, RateLimiter
from evals.protocols import ModelClient
from evals.records import ChatMessage, ModelAnswer, PanelMember


def model_client(config: QuorumConfig | None = None, *, share: float = 1.0) -> LimitedClient:
    """The client every model call goes through: the providers' clients under the
    process's rate limiter (``config``'s shared limits; ``share`` of every configured
    limit for one of several worker processes)."""
    return limited(ProviderClient(), config, share=share)


def limited(
    client: ModelClient, config: QuorumConfig | None = None, *, share: float = 1.0
) -> LimitedClient:
    """``client`` under a rate limiter of its own (as it is, if it already has one)."""
    if isinstance(client, LimitedClient):
        return client
    shared = config.shared_limits() if config is not None else ()
    return LimitedClient(client, RateLimiter(shared, share=share))


def litellm_client(retry: RetryPolicy | None = None) -> ModelClient:
    # Imported here, not at the top: importing litellm costs seconds of CPU (measured
    # 3-7 s of CPU on the CI machine), and most calls and commands never need it.
    from evals.models.litellm_client import LiteLLMClient

    return LiteLLMClient(retry=retry)


class ProviderClient:
    """Asks each member through the cheapest client that speaks its provider's API.

    A member on an OpenAI-compatible server (``openai/...`` with an ``api_base``; see
    :meth:`OpenAICompatibleClient.handles`) is asked straight over HTTP; every other one
    through litellm, which is imported (in a thread, off the event loop) only when the
    first such member is asked or warmed up for.
    """

    def __init__(self, *, retry: RetryPolicy | None = None) -> None:
        """``retry``: how both clients retry (default: RetryPolicy's defaults)."""
        self.direct = OpenAICompatibleClient(retry=retry)
        self.litellm = DeferredModelClient(retry=retry)

    def uses_litellm(self, member: PanelMember) -> bool:
        return not self.direct.handles(member)

    async def complete(self, member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        if self.direct.handles(member):
            return await self.direct.complete(member, messages)
        return await self.litellm.complete(member, messages)

    async def warm_up(self, members: Sequence[PanelMember] | None = None) -> None:
        """Load litellm now if ``members`` (None: any member) need it, so that their
        first call does not pay for the import."""
        if members is None or any(self.uses_litellm(m) for m in members):
            await self.litellm.warm_up()


class DeferredModelClient:
    """The litellm client, imported on its first call.

    Importing litellm costs seconds of CPU, so a process imports it only once a member
    that needs it (:class:`ProviderClient`) is asked or warmed up for: the bot at start
    for its panel, a one-shot command on its first such call.

    The import (seconds of CPU) runs in a thread, off the event loop: a `quorum worker`
    keeps sending its heartbeat meanwhile, so the queue never takes it for dead.
    """

    def __init__(self, *, retry: RetryPolicy | None = None) -> None:
        self._retry = retry
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
                self._client = litellm_client(self._retry)
            return self._client


class NoModelCalls:
    """The model client of a command that calls no model (the digest): it holds no keys,
    and a call is a bug, said as one rather than sent to a provider without its key."""

    async def complete(self, member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        raise RuntimeError(f"this command calls no model, yet {member.name} was asked")


def sentence_embedder(model: str | None = None) -> SentenceTransformerEmbedder:
    """The embedder, not loaded yet (``load()`` or ``start_loading()`` it)."""
    return SentenceTransformerEmbedder(model)
