"""Fixtures for the domain's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from evals.models.litellm_client import LiteLLMClient
from evals.models.openai_compatible import OpenAICompatibleClient
from evals.protocols import ModelClient
from tests.fakes.providers import WIRE_CLIENTS, RecordingRetry, Wire, WireClient, start


@pytest.fixture(params=WIRE_CLIENTS, ids=[f"{w}-{c}" for w, c in WIRE_CLIENTS])
def wire_client(request: pytest.FixtureRequest) -> Iterator[WireClient]:
    """Each wire format with each client that speaks it (see :data:`WIRE_CLIENTS`)."""
    name, client_name = request.param
    retry = RecordingRetry()
    client: ModelClient = (
        LiteLLMClient(retry=retry)
        if client_name == "litellm"
        else OpenAICompatibleClient(retry=retry)
    )
    server = start(name)
    try:
        yield WireClient(Wire(name, server), client, retry, client_name)
    finally:
        server.stop()
