"""A fake Gemini API (``POST /v1beta/models/{model}:generateContent``) for tests.

Point litellm at it with ``model="gemini/<name>"``, ``api_base=server.base_url`` (ending
in ``/v1beta``: litellm appends ``/models/<name>:generateContent``) and ``api_key=...``
(sent as ``x-goog-api-key``, or ``?key=``). It answers as Gemini does (``candidates``
with ``parts``, a ``finishReason``, ``usageMetadata``, ``modelVersion``), and fails as
Gemini does, with Google's error body ``{"error": {"code", "message", "status",
"details"}}`` (:class:`GeminiFailure`):

- ``429 RESOURCE_EXHAUSTED`` with a ``QuotaFailure`` and a ``RetryInfo`` whose
  ``retryDelay`` (``"30s"``) says when to come back (in the body: Gemini sends no
  ``retry-after`` header);
- ``503 UNAVAILABLE`` "The model is overloaded.";
- ``400 INVALID_ARGUMENT``: the input is over the model's token limit;
- ``400 INVALID_ARGUMENT`` ``API_KEY_INVALID`` for a wrong or missing key when
  ``required_key`` is set (Gemini answers a bad key with a 400, not a 401);
- a hang.

Scripting and a slow model's latency: see :mod:`tests.fakes.wire_server`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from aiohttp import web

from tests.fakes.wire_server import FakeProviderServer, Messages, WireFailure, count_tokens

_TYPE = "type.googleapis.com/google.rpc."


def _error(status: int, code: str, message: str, *details: Mapping[str, Any]) -> WireFailure:
    error: dict[str, Any] = {"code": status, "message": message, "status": code}
    if details:
        error["details"] = list(details)
    return WireFailure("error", status, {"error": error})


class GeminiFailure:
    """Gemini's failures, as its API sends them."""

    @staticmethod
    def resource_exhausted(retry_delay: float | None = 30.0) -> WireFailure:
        details: list[Mapping[str, Any]] = [
            {
                "@type": _TYPE + "QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/"
                        "generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        "quotaValue": "15",
                    }
                ],
            },
            {
                "@type": _TYPE + "Help",
                "links": [
                    {
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }
                ],
            },
        ]
        if retry_delay is not None:
            details.append({"@type": _TYPE + "RetryInfo", "retryDelay": f"{retry_delay:g}s"})
        return _error(
            429,
            "RESOURCE_EXHAUSTED",
            "You exceeded your current quota, please check your plan and billing details.",
            *details,
        )

    @staticmethod
    def unavailable() -> WireFailure:
        return _error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")

    @staticmethod
    def input_too_long(tokens: int = 1_100_000, maximum: int = 1_048_576) -> WireFailure:
        return _error(
            400,
            "INVALID_ARGUMENT",
            f"The input token count ({tokens}) exceeds the maximum number of tokens allowed "
            f"({maximum}).",
        )

    @staticmethod
    def auth() -> WireFailure:
        return _error(
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key.",
            {
                "@type": _TYPE + "ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
        )

    @staticmethod
    def server_error() -> WireFailure:
        return _error(500, "INTERNAL", "An internal error has occurred.")

    @staticmethod
    def hang() -> WireFailure:
        return WireFailure("hang")


class FakeGeminiServer(FakeProviderServer):
    """See the module docstring."""

    name = "fake-gemini"
    base_path = "/v1beta"

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/v1beta/models/{target}", self._generate)

    async def _generate(self, request: web.Request) -> web.Response:
        model, _, method = request.match_info["target"].partition(":")
        if method != "generateContent":
            return self.error_response(
                _error(404, "NOT_FOUND", f"Method {method or '(none)'} is not found.")
            )
        try:
            body = await request.json()
        except ValueError:
            return self.error_response(
                _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
            )
        if not isinstance(body, dict) or not isinstance(body.get("contents"), list):
            return self.error_response(
                _error(
                    400,
                    "INVALID_ARGUMENT",
                    "* GenerateContentRequest.contents: contents is not specified",
                )
            )
        messages = _openai_shaped(body)
        self.record(request, model, messages, body)
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if self.required_key is not None and key != self.required_key:
            return self.error_response(GeminiFailure.auth())
        outcome = await self.answer(model, messages)
        if isinstance(outcome, WireFailure):
            return self.error_response(outcome)
        text, resolved = outcome
        prompt_tokens = sum(count_tokens(str(m["content"])) for m in messages)
        candidate: dict[str, Any] = {"finishReason": "STOP", "index": 0}
        candidate["content"] = {"parts": [{"text": text}] if text else [], "role": "model"}
        return web.json_response(
            {
                "candidates": [candidate],
                "usageMetadata": {
                    "promptTokenCount": prompt_tokens,
                    "candidatesTokenCount": count_tokens(text),
                    "totalTokenCount": prompt_tokens + count_tokens(text),
                },
                "modelVersion": resolved,
                "responseId": f"fake{next(self.ids)}",
            }
        )


def _text(content: Any) -> str:
    parts = content.get("parts") if isinstance(content, dict) else None
    return "".join(
        str(p.get("text", "")) for p in parts or [] if isinstance(p, dict) and "text" in p
    )


def _openai_shaped(body: Mapping[str, Any]) -> Messages:
    messages: Messages = []
    system = _text(body.get("systemInstruction") or body.get("system_instruction"))
    if system:
        messages.append({"role": "system", "content": system})
    for content in body.get("contents") or []:
        if isinstance(content, dict):
            role = "assistant" if content.get("role") == "model" else "user"
            messages.append({"role": role, "content": _text(content)})
    return messages


@pytest.fixture
def fake_gemini() -> Iterator[FakeGeminiServer]:
    """A started :class:`FakeGeminiServer`, stopped after the test."""
    with FakeGeminiServer() as server:
        yield server
