"""The three wire formats behind one face, so that one test runs over all of them.

``wire_client`` (``tests/evals/conftest.py``) is a fixture parametrized over each wire format (``openai``,
``anthropic``, ``gemini``) with each client that speaks it (litellm all three, the direct
client OpenAI's): a started fake server of that format (port 0), the client, and what a
test needs to speak of the provider the same way whatever its format: a member on it, and
its own failures by meaning (rate limited with a wait hint, overloaded, prompt too long,
bad key, hang)::

    async def test_something(wire_client: WireClient) -> None:
        on = wire_client
        on.wire.script("m", "Paris.")
        on.wire.fail("m", on.wire.rate_limited(0.05))
        answer = await on.client.complete(on.wire.member("m"), QUESTION)
        assert on.retry.hints == [0.05]  # the provider's own hint, read from its shape
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from evals.models.provider_calls import RetryPolicy
from evals.protocols import ModelClient
from evals.records import ErrorKind, PanelMember
from tests.fakes.anthropic_server import AnthropicFailure, FakeAnthropicServer
from tests.fakes.gemini_server import FakeGeminiServer, GeminiFailure
from tests.fakes.openai_server import Failure, FakeOpenAIServer
from tests.fakes.wire_server import FakeProviderServer, Messages, RecordedRequest

_OPENAI_OVERLOADED = json.dumps(
    {
        "error": {
            "message": "The engine is currently overloaded, please try again later.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
)
#: Each wire format with each client that speaks it: litellm speaks all three, the direct
#: client only OpenAI's.
WIRE_CLIENTS = (
    ("openai", "litellm"),
    ("openai", "direct"),
    ("anthropic", "litellm"),
    ("gemini", "litellm"),
)


@dataclass
class Wire:
    """One fake provider, spoken of by meaning."""

    name: str  # openai | anthropic | gemini
    server: FakeOpenAIServer | FakeProviderServer

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def member(
        self,
        name: str,
        *,
        api_key: str = "sk-test",
        timeout_s: float = 2.0,
        max_retries: int = 2,
        **kwargs: Any,
    ) -> PanelMember:
        """A member asking model ``name`` on this server, as a user configures one."""
        return PanelMember(
            name=name,
            model=f"{self.name}/{name}",
            params={"api_base": self.server.base_url, "api_key": api_key},
            timeout_s=timeout_s,
            max_retries=max_retries,
            **kwargs,
        )

    def script(
        self,
        model: str,
        reply: str | Any | None = None,
        *,
        latency: float | None = None,
        resolved_model: str | None = None,
    ) -> None:
        self.server.script(model, reply, latency=latency, resolved_model=resolved_model)

    def fail(self, model: str, *failures: Any) -> None:
        self.server.fail(model, *failures)

    def calls(self, model: str | None = None) -> int:
        return self.server.calls(model)

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.server.requests

    def messages(self, index: int = 0) -> Messages:
        return self.server.requests[index].messages

    # -- failures, by meaning -----------------------------------------------------------
    def rate_limited(self, wait_s: float | None) -> Any:
        """The provider's "too many requests", asking to come back in ``wait_s`` s its
        own way (OpenAI: retry-after(-ms); Anthropic: retry-after and reset times;
        Gemini: RetryInfo.retryDelay in the body)."""
        if self.name == "anthropic":
            return AnthropicFailure.rate_limited(retry_after=wait_s)
        if self.name == "gemini":
            return GeminiFailure.resource_exhausted(retry_delay=wait_s)
        return Failure.rate_limited(retry_after=wait_s)

    def overloaded(self) -> Any:
        """Anthropic's 529 overloaded_error; Gemini's and OpenAI's 503."""
        if self.name == "anthropic":
            return AnthropicFailure.overloaded()
        if self.name == "gemini":
            return GeminiFailure.unavailable()
        return Failure.raw(_OPENAI_OVERLOADED, status=503)

    @property
    def overloaded_kind(self) -> ErrorKind:
        """529 asks everyone to slow down: a rate limit; a 503 is the provider's error."""
        return ErrorKind.RATE_LIMITED if self.name == "anthropic" else ErrorKind.PROVIDER_ERROR

    def too_long(self) -> Any:
        if self.name == "anthropic":
            return AnthropicFailure.prompt_too_long(210_000, 200_000)
        if self.name == "gemini":
            return GeminiFailure.input_too_long(1_100_000, 1_048_576)
        return Failure.context_length_exceeded(130_000, 128_000)

    @property
    def too_long_words(self) -> str:
        """What the provider's own message says, which the error detail keeps."""
        return {
            "anthropic": "prompt is too long: 210000 tokens > 200000 maximum",
            "gemini": "input token count (1100000) exceeds the maximum",
            "openai": "maximum context length is 128000 tokens",
        }[self.name]

    def require_key(self, key: str) -> None:
        self.server.required_key = key

    def hang(self) -> Any:
        if self.name == "anthropic":
            return AnthropicFailure.hang()
        if self.name == "gemini":
            return GeminiFailure.hang()
        return Failure.hang()


def start(name: str) -> FakeOpenAIServer | FakeProviderServer:
    if name == "anthropic":
        return FakeAnthropicServer().start()
    if name == "gemini":
        return FakeGeminiServer().start()
    return FakeOpenAIServer().start()


class RecordingRetry(RetryPolicy):
    """Retries fast and records the wait hint each retry was given (None: no hint)."""

    def __init__(self) -> None:
        super().__init__(backoff_base_s=0.01, max_retry_after_s=5.0)
        self.hints: list[float | None] = []

    def delay(self, attempt: int, retry_after_s: float | None) -> float:
        self.hints.append(retry_after_s)
        return super().delay(attempt, retry_after_s)


@dataclass
class WireClient:
    """A fake provider, a client that speaks its wire, and the retry policy it uses."""

    wire: Wire
    client: ModelClient
    retry: RecordingRetry
    client_name: str  # litellm | direct
