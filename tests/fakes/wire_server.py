"""What the fake providers other than OpenAI share: a real aiohttp server on
``127.0.0.1`` (port 0) in its own thread and event loop, scripted per model.

:mod:`tests.fakes.anthropic_server` and :mod:`tests.fakes.gemini_server` build on it;
each speaks its provider's wire format and fails the way that provider does. The
scripting is the one :mod:`tests.fakes.openai_server` has (its :class:`ModelScript`,
replies computed from the conversation, failures consumed one per request, in order)::

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from tests.fakes.openai_server import Messages, ModelScript, RecordedRequest

#: Request headers never recorded (they carry credentials).
SECRET_HEADERS = frozenset(
    {"authorization", "api-key", "x-api-key", "x-goog-api-key", "proxy-authorization"}
)


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


class FakeProviderServer:
    """The lifecycle and scripting; subclasses add their routes (:meth:`_routes`)."""

    name = "fake-provider"
    #: The path after the server's root that ``base_url`` ends with.
    base_path = ""

    def __init__(self, *, port: int = 0, hang_limit_s: float = 30.0) -> None:
        self._requested_port = port
        self.hang_limit_s = hang_limit_s
        self._scripts: dict[str, ModelScript] = {}
        self._failures: dict[str, list[WireFailure]] = {}
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
        reply: str | Callable[[Messages], str] | None = None,
        *,
        latency: float | None = None,
        resolved_model: str | None = None,
    ) -> ModelScript:
        """Set (or update) what ``model`` answers; ``latency``: seconds before each
        answer (a slow reasoning model)."""
        with self._lock:
            s = self._scripts.setdefault(model, ModelScript(reply=f"Answer from {model}."))
            if reply is not None:
                s.reply = reply
            if latency is not None:
                s.latency = latency
            if resolved_model is not None:
                s.resolved_model = resolved_model
            return s

    def fail(self, model: str, *failures: WireFailure) -> None:
        """Queue failures for ``model``'s next requests, consumed one per request."""
        self.script(model)
        with self._lock:
            self._failures.setdefault(model, []).extend(failures)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def calls(self, model: str | None = None) -> int:
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

    async def answer(self, model: str, messages: Messages) -> tuple[str, str] | WireFailure:
        """Wait the model's latency; then its next failure, or (text, resolved model)."""
        with self._lock:
            script = self._scripts.get(model) or ModelScript(reply=f"Answer from {model}.")
            queued = self._failures.get(model)
            failure = queued.pop(0) if queued else None
            reply, latency, resolved = script.reply, script.latency, script.resolved_model
        if latency > 0:
            await asyncio.sleep(latency)
        if failure is not None:
            if failure.kind == "hang":
                assert self._stopping is not None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.hang_limit_s)
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
