"""What every fake model provider shares: a real aiohttp server on ``127.0.0.1`` (port 0)
in its own thread and event loop, scripted per model.

:class:`LoopbackServer` is the machinery (start/stop, scripting, recording, hangs) that
:mod:`tests.fakes.openai_server`, :mod:`tests.fakes.anthropic_server` and
:mod:`tests.fakes.gemini_server` all build on; each adds its routes, speaks its provider's
wire format and fails the way that provider does. Replies are computed from the
conversation where a callable is scripted; failures are consumed one per request, in
order::

    server.script("claude", "Paris.", latency=0.05, resolved_model="claude-x-20250101")
    server.fail("claude", AnthropicFailure.rate_limited(retry_after=0.05))
    server.required_key = "sk-ant-test"     # another key (or none) is refused
    server.calls("claude"); server.requests  # what reached the server

Recorded messages are in OpenAI's shape (``{"role", "content"}``, the system prompt
first as a ``system`` message) whatever the wire, so one test reads all three fakes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Self, TypeVar

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

Messages = list[dict[str, Any]]
Reply = str | Callable[[Messages], str]
#: A fake's own kind of injected failure.
F = TypeVar("F")

#: Request headers never recorded (they carry credentials).
SECRET_HEADERS = frozenset(
    {"authorization", "api-key", "x-api-key", "x-goog-api-key", "proxy-authorization"}
)


@dataclass
class ModelScript(Generic[F]):
    """How the server behaves for one requested model."""

    reply: Reply = "OK"
    latency: float = 0.0
    #: The model version the response names; defaults to the requested model.
    resolved_model: str | None = None
    #: Where the wire reports one (OpenAI's ``finish_reason``).
    finish_reason: str = "stop"
    failures: deque[F] = field(default_factory=deque)


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    model: str
    messages: Messages
    headers: Mapping[str, str]  # case-insensitive; credentials removed
    body: Mapping[str, Any]


@dataclass(frozen=True)
class WireFailure:
    """One injected failure: an HTTP error exactly as the provider sends it, or a hang.
    Build with the provider's own failure class (its class methods)."""

    kind: str  # "error" | "hang"
    status: int = 200
    body: Any = None  # JSON
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Header values computed when the failure is answered (e.g. reset times from now).
    late_headers: Callable[[], Mapping[str, str]] | None = None


def count_tokens(text: str) -> int:
    return len(text.split())


class LoopbackServer(Generic[F]):
    """The lifecycle, scripting and recording; subclasses add their routes
    (:meth:`_routes`). Use as a context manager or call ``start``/``stop``."""

    name = "fake-provider"
    #: The path after the server's root that ``base_url`` ends with.
    base_path = ""

    def __init__(self, *, port: int = 0, hang_limit_s: float = 30.0) -> None:
        self._requested_port = port
        self.hang_limit_s = hang_limit_s
        self._scripts: dict[str, ModelScript[F]] = {}
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self.ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._port: int | None = None
        #: When set, a request without this key is refused the provider's way.
        self.required_key: str | None = None

    # -- scripting -----------------------------------------------------------------
    def script(
        self,
        model: str,
        reply: Reply | None = None,
        *,
        latency: float | None = None,
        resolved_model: str | None = None,
        finish_reason: str | None = None,
    ) -> ModelScript[F]:
        """Set (or update) what ``model`` answers; ``latency``: seconds before each
        answer (a slow reasoning model); ``finish_reason``: OpenAI's, which only the
        OpenAI fake reports (the others always end their answers normally). Returns
        its script."""
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

    def fail(self, model: str, *failures: F) -> None:
        """Queue failures for ``model``'s next requests, consumed one per request, in order."""
        self.script(model)
        with self._lock:
            self._scripts[model].failures.extend(failures)

    # -- assertions ----------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def calls(self, model: str | None = None) -> int:
        """Model requests received (for ``model``, or in all)."""
        with self._lock:
            return sum(1 for r in self._requests if model is None or r.model == model)

    # -- lifecycle -----------------------------------------------------------------
    @property
    def root_url(self) -> str:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """What a member's ``api_base`` is set to."""
        return self.root_url + self.base_path

    def start(self) -> Self:
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

        self._thread = threading.Thread(target=serve, name=self.name, daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            self._thread = None
            raise RuntimeError(f"{type(self).__name__} failed to start") from errors[0]
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

    def __enter__(self) -> Self:
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
        self._routes(app)
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

    def _routes(self, app: web.Application) -> None:
        raise NotImplementedError

    # -- for the subclasses' handlers ----------------------------------------------
    def record(
        self, request: web.Request, model: str, messages: Messages, body: Mapping[str, Any]
    ) -> None:
        headers = CIMultiDictProxy(
            CIMultiDict(
                (k, v) for k, v in request.headers.items() if k.lower() not in SECRET_HEADERS
            )
        )
        with self._lock:
            self._requests.append(
                RecordedRequest(request.path, model, messages, headers, dict(body))
            )

    async def hang(self) -> None:
        """Hold a request until the server stops (or ``hang_limit_s`` passes)."""
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self.hang_limit_s)


class FakeProviderServer(LoopbackServer[WireFailure]):
    """A fake whose failures are :class:`WireFailure` (Anthropic's, Gemini's)."""

    async def answer(self, model: str, messages: Messages) -> tuple[str, str] | WireFailure:
        """Wait the model's latency; then its next failure, or (text, resolved model)."""
        with self._lock:
            script = self._scripts.get(model) or ModelScript(reply=f"Answer from {model}.")
            failure = script.failures.popleft() if script.failures else None
            reply, latency, resolved = script.reply, script.latency, script.resolved_model
        if latency > 0:
            await asyncio.sleep(latency)
        if failure is not None:
            if failure.kind == "hang":
                await self.hang()
                return WireFailure("error", 504, {"error": "the fake server gave up hanging"})
            return failure
        text = reply(messages) if callable(reply) else (reply or f"Answer from {model}.")
        return text, resolved or model

    @staticmethod
    def error_response(failure: WireFailure) -> web.Response:
        headers = dict(failure.headers)
        if failure.late_headers is not None:
            headers.update(failure.late_headers())
        return web.json_response(failure.body, status=failure.status, headers=headers)
