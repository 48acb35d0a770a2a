"""The seams of the domain: small Protocols the adapters and the test fakes implement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from evals.records import ChatMessage, ModelAnswer, PanelMember

Vectors = npt.NDArray[np.float32]


class ModelClient(Protocol):
    """Asks one model one conversation. Never raises for a provider failure: the
    returned :class:`ModelAnswer` carries an ``error`` kind instead."""

    async def complete(
        self, member: PanelMember, messages: Sequence[ChatMessage]
    ) -> ModelAnswer: ...


class Embedder(Protocol):
    """Turns texts into unit-length vectors (cosine similarity == dot product)."""

    @property
    def name(self) -> str: ...

    @property
    def max_tokens(self) -> int:
        """How many word pieces the model reads before it silently cuts the rest."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def embed(self, texts: Sequence[str]) -> Vectors: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
