"""A fake OpenAI-compatible HTTP server for tests and benchmarks.

A real aiohttp server on ``127.0.0.1`` (port 0) running its own event loop in a background
thread, so synchronous tests, async tests and subprocesses can all reach it at
``server.base_url`` (``http://127.0.0.1:PORT/v1``). Point litellm at it with
``model="openai/<name>"``, ``api_base=server.base_url``, ``api_key="sk-test"``.

Scripting is per requested model (the ``model`` field of the request body, i.e. the part
after ``openai/``)::

    server.script("fast", reply="Paris", latency=0.05, resolved_model="gpt-4o-mini-2024-07-18")
    server.script("judge", reply=lambda messages: '{"verdict": "pass"}')
    server.fail("fast", Failure.rate_limited(retry_after=0.01), Failure.server_error())
    server.fail("slow", Failure.hang())          # never answers; the client must time out
    server.required_key = "sk-test"              # other keys (or none) get a 401
    server.rate_limit(rpm=300)                   # each model: 300 requests a minute, then 429
    server.refused("fast")                       # requests "fast" refused over its limit
    server.calls("fast")                         # how many requests reached "fast"
    server.requests                              # every request: model, messages, headers

Injected failures are consumed in order, one per request, before the scripted reply is
used. Unknown models get ``server.default`` (a reply naming the model).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import pytest
from aiohttp import web

from tests.fakes.wire_server import (
    LoopbackServer,
    Messages,
    ModelScript,
    RecordedRequest,
    Reply,
    count_tokens,
)


@dataclass(frozen=True)
class Failure:
    """One injected failure. Build with the class methods."""

    # rate_limited | server_error | auth | bad_request | hang | malformed | empty | not_chat
    # | html_error | raw
    kind: str
    status: int = 200
    retry_after: float | None = None
    message: str = ""

    @classmethod
    def rate_limited(cls, retry_after: float | None = None) -> Failure:
        return cls("rate_limited", 429, retry_after, "Rate limit reached for requests")

    @classmethod
    def server_error(cls, status: int = 500) -> Failure:
        return cls("server_error", status, None, "The server had an error")

    @classmethod
    def auth(cls, message: str = "Incorrect API key provided") -> Failure:
        return cls("auth", 401, None, message)

    @classmethod
    def bad_request(cls, message: str = "Invalid request") -> Failure:
        return cls("bad_request", 400, None, message)

    @classmethod
    def hang(cls) -> Failure:
        """Accept the request and never answer (until the server stops)."""
        return cls("hang")

    @classmethod
    def not_chat(cls) -> Failure:
        """HTTP 200 with valid JSON that is not a chat completion (a misrouted proxy)."""
        return cls("not_chat")

    @classmethod
    def html_error(cls, status: int = 502) -> Failure:
        """A gateway's HTML error page instead of the provider's JSON error."""
        return cls("html_error", status, message="<html><body><h1>502 Bad Gateway</h1>")

    @classmethod
    def raw(cls, body: str, status: int = 200) -> Failure:
        """Exactly ``body`` as the response (JSON content type), whatever it holds."""
        return cls("raw", status, message=body)

    @classmethod
    def malformed(cls) -> Failure:
        """HTTP 200 with a body that is not JSON."""
        return cls("malformed")

    @classmethod
    def empty(cls) -> Failure:
        """HTTP 200, a well-formed completion whose content is empty."""
        return cls("empty")

    @classmethod
    def context_length_exceeded(cls, tokens: int = 130_000, maximum: int = 128_000) -> Failure:
        """OpenAI's 400 for a conversation longer than the model's context window."""
        message = (
            f"This model's maximum context length is {maximum} tokens. However, your "
            f"messages resulted in {tokens} tokens. Please reduce the length of the messages."
        )
        error = {
            "message": message,
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
        return cls("raw", 400, message=json.dumps({"error": error}))


@dataclass(frozen=True)
class RateLimit:
    """A per-model request limit as OpenAI enforces it: ``rpm`` a minute, spread evenly
    (GCRA), with at most ``burst_s`` seconds' worth at once."""

    rpm: float
    burst_s: float = 1.0

    @property
    def interval(self) -> float:
        return 60.0 / self.rpm


class FakeOpenAIServer(LoopbackServer[Failure]):
    """See the module docstring. Use as a context manager or call ``start``/``stop``.
    ``required_key``: when set, a request without ``Authorization: Bearer <it>`` gets a 401."""

    name = "fake-openai"
    base_path = "/v1"

    def __init__(self, *, port: int = 0, hang_limit_s: float = 30.0) -> None:
        super().__init__(port=port, hang_limit_s=hang_limit_s)
        #: What a model never scripted answers ("" means: "Answer from <model>.").
        self.default: ModelScript[Failure] = ModelScript(reply="")
        self._in_flight = 0
        self.max_in_flight = 0  # the most chat requests being handled at one moment
        self._limits: dict[str | None, RateLimit] = {}
        self._due: dict[str, float] = {}  # GCRA: each model's theoretical arrival time
        self._refused: Counter[str] = Counter()

    # -- scripting (beside the shared script() and fail()) -----------------------------
    def rate_limit(self, model: str | None = None, *, rpm: float, burst_s: float = 1.0) -> None:
        """Limit ``model`` (None: every model, each on its own) to ``rpm`` requests a
        minute; a request over it gets OpenAI's 429 (``retry-after``, ``retry-after-ms``,
        ``x-ratelimit-*`` headers; error type ``requests``, code ``rate_limit_exceeded``)."""
        if rpm <= 0 or burst_s < 0:
            raise ValueError("rpm must be positive and burst_s not negative")
        with self._lock:
            self._limits[model] = RateLimit(rpm, burst_s)

    def refused(self, model: str | None = None) -> int:
        """Requests refused over a :meth:`rate_limit` (for ``model``, or in all)."""
        with self._lock:
            return self._refused[model] if model is not None else sum(self._refused.values())

    def reset(self) -> None:
        """Forget every script, recorded request and rate limit."""
        with self._lock:
            self._scripts.clear()
            self._requests.clear()
            self._limits.clear()
            self._due.clear()
            self._refused.clear()
            self.max_in_flight = 0

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/models", self._models)

    # -- handlers ------------------------------------------------------------------
    async def _models(self, request: web.Request) -> web.Response:
        with self._lock:
            names = sorted(self._scripts)
        data = [{"id": n, "object": "model", "created": 0, "owned_by": "fake"} for n in names]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "invalid_request_error", "Request body is not JSON")
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return _error(400, "invalid_request_error", "'model' is required")
        model: str = body["model"]
        messages = body.get("messages")
        if not isinstance(messages, list):
            return _error(400, "invalid_request_error", "'messages' must be a list")
        self.record(request, model, messages, body)
        required = self.required_key
        if required is not None and request.headers.get("Authorization") != f"Bearer {required}":
            return _error(401, "invalid_api_key", "Incorrect API key provided")
        refusal = self._over_limit(model)
        if refusal is not None:
            return refusal
        with self._lock:
            script = self._scripts.get(model, self.default)
            failure = script.failures.popleft() if script.failures else None
            reply, latency = script.reply, script.latency
            resolved, finish = script.resolved_model or model, script.finish_reason
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            return await self._respond(messages, model, reply, latency, resolved, finish, failure)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _over_limit(self, model: str) -> web.Response | None:
        """OpenAI's 429 when ``model`` is over its rate limit; None (and the request
        counted) otherwise."""
        with self._lock:
            limit = self._limits.get(model) or self._limits.get(None)
            if limit is None:
                return None
            now = time.monotonic()
            due = max(self._due.get(model, now), now)
            wait = due - now - limit.burst_s
            if wait <= 0:
                self._due[model] = due + limit.interval
                return None
            self._refused[model] += 1
        rpm = f"{limit.rpm:g}"
        headers = {
            "retry-after": str(max(1, math.ceil(wait))),
            "retry-after-ms": str(max(1, math.ceil(wait * 1000))),
            "x-ratelimit-limit-requests": rpm,
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": f"{max(1, math.ceil(wait * 1000))}ms",
        }
        message = (
            f"Rate limit reached for {model} in organization org-fake on requests per min "
            f"(RPM): Limit {rpm}, Used {rpm}, Requested 1. "
            f"Please try again in {math.ceil(wait * 1000)}ms."
        )
        body = {
            "error": {
                "message": message,
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
        }
        return web.json_response(body, status=429, headers=headers)

    async def _respond(
        self,
        messages: Messages,
        model: str,
        reply: Reply,
        latency: float,
        resolved: str,
        finish: str,
        failure: Failure | None,
    ) -> web.StreamResponse:
        if latency > 0:
            await asyncio.sleep(latency)
        if failure is not None:
            failed = await self._failure_response(failure)
            if failed is not None:
                return failed
            text = ""
        elif callable(reply):
            text = reply(messages)
        else:
            text = reply or f"Answer from {model}."
        prompt_tokens = sum(count_tokens(str(m.get("content", ""))) for m in messages)
        return web.json_response(
            {
                "id": f"chatcmpl-fake-{next(self.ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": resolved,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "logprobs": None,
                        "finish_reason": finish,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": count_tokens(text),
                    "total_tokens": prompt_tokens + count_tokens(text),
                },
            }
        )

    async def _failure_response(self, failure: Failure) -> web.StreamResponse | None:
        """The response for an injected failure; None for ``empty`` (a normal, empty reply)."""
        if failure.kind == "empty":
            return None
        if failure.kind == "hang":
            await self.hang()
            return _error(504, "timeout", "The fake server gave up hanging")
        if failure.kind == "malformed":
            return web.Response(
                status=200,
                text='{"id": "chatcmpl-broken", "choices": [',
                content_type="application/json",
            )
        if failure.kind == "not_chat":
            return web.json_response({"object": "list", "data": []})
        if failure.kind == "raw":
            return web.Response(
                status=failure.status, text=failure.message, content_type="application/json"
            )
        if failure.kind == "html_error":
            return web.Response(
                status=failure.status, text=failure.message, content_type="text/html"
            )
        headers: dict[str, str] = {}
        if failure.retry_after is not None:
            headers["Retry-After"] = f"{failure.retry_after:g}"
            headers["retry-after-ms"] = str(int(failure.retry_after * 1000))
        error_type = {
            "rate_limited": "rate_limit_exceeded",
            "auth": "invalid_api_key",
            "bad_request": "invalid_request_error",
        }.get(failure.kind, "server_error")
        return _error(failure.status, error_type, failure.message, headers)


def _error(
    status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    body = {"error": {"message": message, "type": error_type, "param": None, "code": error_type}}
    return web.json_response(body, status=status, headers=dict(headers or {}))


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until interrupted: ``python -m tests.fakes.openai_server [--port 8700] ...``.

    Prints the base URL on the first line of stdout (so a parent process can read it).
    Every model answers with ``--reply`` (default: "Answer from <model>.").
    """

    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server for Quorum.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--reply", default="", help="the text every model answers")
    parser.add_argument("--resolved-model", default=None, help="the model version reported")
    parser.add_argument("--rpm", type=float, default=None, help="each model's rate limit")
    args = parser.parse_args(argv)
    server = FakeOpenAIServer(port=args.port)
    server.default = ModelScript(
        reply=args.reply, latency=args.latency, resolved_model=args.resolved_model
    )
    if args.rpm is not None:
        server.rate_limit(rpm=args.rpm)
    with server:
        print(server.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A started :class:`FakeOpenAIServer`, stopped after the test."""
    server = FakeOpenAIServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


__all__: Sequence[str] = (
    "Failure",
    "FakeOpenAIServer",
    "ModelScript",
    "RateLimit",
    "RecordedRequest",
    "fake_openai",
)


if __name__ == "__main__":
    main()
