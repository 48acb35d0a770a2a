"""A fake Anthropic Messages API (``POST /v1/messages``) for tests.

Point litellm at it with ``model="anthropic/<name>"``, ``api_base=server.base_url`` (the
server's root: litellm appends ``/v1/messages``) and ``api_key=...`` (sent as
``x-api-key``). It answers as Anthropic does (a ``message`` with text blocks, a
``stop_reason`` and ``usage``), and fails as Anthropic does (:class:`AnthropicFailure`):

- ``429 rate_limit_error`` with ``retry-after`` (whole seconds, as Anthropic sends it;
  fractions here so tests stay fast) and the ``anthropic-ratelimit-*`` limit, remaining
  and reset (RFC 3339) headers;
- ``529 overloaded_error`` ("Overloaded");
- ``400 invalid_request_error`` "prompt is too long: N tokens > M maximum";
- ``401 authentication_error`` "invalid x-api-key" (also for a missing or wrong key when
  ``required_key`` is set);
- a hang (the request is accepted and never answered).

Scripting and a slow model's latency: see :mod:`tests.fakes.wire_server`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from tests.fakes.wire_server import FakeProviderServer, Messages, WireFailure, count_tokens

ANTHROPIC_VERSION = "2023-06-01"


def _error(status: int, error_type: str, message: str, **headers: str) -> WireFailure:
    body = {"type": "error", "error": {"type": error_type, "message": message}}
    return WireFailure("error", status, body, {"request-id": "req_fake", **headers})


class AnthropicFailure:
    """Anthropic's failures, as its API sends them."""

    @staticmethod
    def rate_limited(
        retry_after: float | None = 1.0, *, reset_in: float = 1.0, limit: str = "requests"
    ) -> WireFailure:
        """``limit``: the quota that ran out: requests, tokens, input-tokens or
        output-tokens (its ``remaining`` is 0 and it refills in ``reset_in`` s)."""
        headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}

        def late() -> Mapping[str, str]:
            reset = (datetime.now(UTC) + timedelta(seconds=reset_in)).isoformat()
            fields: dict[str, str] = {}
            for quota, size in (("requests", "50"), ("tokens", "40000")):
                fields[f"anthropic-ratelimit-{quota}-limit"] = size
                fields[f"anthropic-ratelimit-{quota}-remaining"] = "0" if quota == limit else "9"
                fields[f"anthropic-ratelimit-{quota}-reset"] = reset.replace("+00:00", "Z")
            if limit in ("input-tokens", "output-tokens"):
                fields[f"anthropic-ratelimit-{limit}-remaining"] = "0"
                fields[f"anthropic-ratelimit-{limit}-reset"] = reset.replace("+00:00", "Z")
            return fields

        message = (
            "This request would exceed the rate limit for your organization of 50 "
            f"{limit} per minute. For details, refer to: "
            "https://docs.claude.com/en/api/rate-limits."
        )
        failure = _error(429, "rate_limit_error", message, **headers)
        return WireFailure(failure.kind, failure.status, failure.body, failure.headers, late)

    @staticmethod
    def overloaded() -> WireFailure:
        return _error(529, "overloaded_error", "Overloaded")

    @staticmethod
    def prompt_too_long(tokens: int = 210_000, maximum: int = 200_000) -> WireFailure:
        return _error(
            400, "invalid_request_error", f"prompt is too long: {tokens} tokens > {maximum} maximum"
        )

    @staticmethod
    def auth(message: str = "invalid x-api-key") -> WireFailure:
        return _error(401, "authentication_error", message)

    @staticmethod
    def server_error() -> WireFailure:
        return _error(500, "api_error", "Internal server error")

    @staticmethod
    def hang() -> WireFailure:
        return WireFailure("hang")


class FakeAnthropicServer(FakeProviderServer):
    """See the module docstring."""

    name = "fake-anthropic"

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._messages)

    async def _messages(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return self.error_response(
                _error(400, "invalid_request_error", "The request body is not valid JSON.")
            )
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return self.error_response(
                _error(400, "invalid_request_error", "model: Field required")
            )
        if not isinstance(body.get("max_tokens"), int):
            return self.error_response(
                _error(400, "invalid_request_error", "max_tokens: Field required")
            )
        model: str = body["model"]
        messages = _openai_shaped(body)
        self.record(request, model, messages, body)
        if request.headers.get("anthropic-version") is None:
            return self.error_response(
                _error(400, "invalid_request_error", "anthropic-version: header is required")
            )
        if self.required_key is not None and request.headers.get("x-api-key") != self.required_key:
            return self.error_response(AnthropicFailure.auth())
        outcome = await self.answer(model, messages)
        if isinstance(outcome, WireFailure):
            return self.error_response(outcome)
        text, resolved = outcome
        prompt_tokens = sum(count_tokens(str(m["content"])) for m in messages)
        return web.json_response(
            {
                "id": f"msg_fake{next(self.ids)}",
                "type": "message",
                "role": "assistant",
                "model": resolved,
                "content": [{"type": "text", "text": text}] if text else [],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": prompt_tokens, "output_tokens": count_tokens(text)},
            },
            headers={"request-id": "req_fake"},
        )


def _text(content: Any) -> str:
    """A message's content: a string, or text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(b.get("text", ""))
            for b in content
            if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


def _openai_shaped(body: Mapping[str, Any]) -> Messages:
    messages: Messages = []
    system = _text(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            messages.append({"role": message.get("role"), "content": _text(message.get("content"))})
    return messages


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropicServer]:
    """A started :class:`FakeAnthropicServer`, stopped after the test."""
    with FakeAnthropicServer() as server:
        yield server
