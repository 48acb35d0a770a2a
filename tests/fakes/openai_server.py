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
import itertools
import json
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

Messages = list[dict[str, Any]]
Reply = str | Callable[[Messages], str]

#: Request headers never recorded (they carry credentials).
_SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "proxy-authorization"})


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


@dataclass
class ModelScript:
    """How the server behaves for one requested model."""

    reply: Reply = "OK"
    latency: float = 0.0
    resolved_model: str | None = (
        None  # the "model" field of the response; defaults to the request's
    )
    finish_reason: str = "stop"
    failures: deque[Failure] = field(default_factory=deque)


@dataclass(frozen=True)
class RateLimit:
    """A per-model request limit as OpenAI enforces it: ``rpm`` a minute, spread evenly
    (GCRA), with at most ``burst_s`` seconds' worth at once."""

    rpm: float
    burst_s: float = 1.0

    @property
    def interval(self) -> float:
        return 60.0 / self.rpm


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    model: str
    messages: Messages
    headers: Mapping[str, str]  # case-insensitive; credentials removed
    body: Mapping[str, Any]


def _count_tokens(text: str) -> int:
    return len(text.split())


class FakeOpenAIServer:
    """See the module docstring. Use as a context manager or call ``start``/``stop``."""

    def __init__(self, *, port: int = 0, hang_limit_s: float = 30.0) -> None:
        self._requested_port = port
        self.default = ModelScript(reply="")  # "" means: "Answer from <model>."
        self.hang_limit_s = hang_limit_s
        self._scripts: dict[str, ModelScript] = {}
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._port: int | None = None
        self._in_flight = 0
        self.max_in_flight = 0  # the most chat requests being handled at one moment
        #: When set, a request without ``Authorization: Bearer <it>`` gets a 401.
        self.required_key: str | None = None
        self._limits: dict[str | None, RateLimit] = {}
        self._due: dict[str, float] = {}  # GCRA: each model's theoretical arrival time
        self._refused: Counter[str] = Counter()

    # -- scripting -----------------------------------------------------------------
    def script(
        self,
        model: str,
        reply: Reply | None = None,
        *,
        latency: float | None = None,
        resolved_model: str | None = None,
        finish_reason: str | None = None,
    ) -> ModelScript:
        """Set (or update) what ``model`` answers. Returns its script."""
        with self._lock:
            s = self._scripts.setdefault(model, ModelScript(reply=f"Answer from {model}."))
            if reply is not None:
                s.reply = reply
            if latency is not None:
                s.latency = latency
            if resolved_model is not None:
                s.resolved_model = resolved_model
            if finish_reason is not None:
                s.finish_reason = finish_reason
            return s

    def fail(self, model: str, *failures: Failure) -> None:
        """Queue failures for ``model``'s next requests, consumed one per request, in order."""
        self.script(model)
        with self._lock:
            self._scripts[model].failures.extend(failures)

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

    # -- assertions ----------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def calls(self, model: str | None = None) -> int:
        """Chat-completion requests received (for ``model``, or in all)."""
        with self._lock:
            return sum(
                1
                for r in self._requests
                if r.path.endswith("/chat/completions") and (model is None or r.model == model)
            )

    # -- lifecycle -----------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeOpenAIServer is not started")
        return f"http://127.0.0.1:{self._port}/v1"

    def start(self) -> FakeOpenAIServer:
        if self._thread is not None:
            return self
        ready = threading.Event()
        errors: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_app())
            except BaseException as exc:  # surfaced to the starting thread
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._stop_app())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-openai", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            self._thread = None
            raise RuntimeError("FakeOpenAIServer failed to start") from errors[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(self._begin_stop)
        thread.join(10)
        self._thread = None
        self._loop = None
        self._port = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _begin_stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()  # release hanging handlers
        assert self._loop is not None
        self._loop.stop()

    async def _start_app(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/models", self._models)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._requested_port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        self._port = server.sockets[0].getsockname()[1]

    async def _stop_app(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()

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
        headers = CIMultiDictProxy(
            CIMultiDict(
                (k, v) for k, v in request.headers.items() if k.lower() not in _SECRET_HEADERS
            )
        )
        with self._lock:
            self._requests.append(
                RecordedRequest(request.path, model, messages, headers, dict(body))
            )
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
        prompt_tokens = sum(_count_tokens(str(m.get("content", ""))) for m in messages)
        return web.json_response(
            {
                "id": f"chatcmpl-fake-{next(self._ids)}",
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
                    "completion_tokens": _count_tokens(text),
                    "total_tokens": prompt_tokens + _count_tokens(text),
                },
            }
        )

    async def _failure_response(self, failure: Failure) -> web.StreamResponse | None:
        """The response for an injected failure; None for ``empty`` (a normal, empty reply)."""
        if failure.kind == "empty":
            return None
        if failure.kind == "hang":
            assert self._stopping is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.hang_limit_s)
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
