"""A fake Slack Web API over real HTTP, for tests and benchmarks.

It runs an aiohttp server on 127.0.0.1 (port 0) in a background thread with its own
event loop, so sync tests, async tests and subprocesses can all talk to it. Every call
is recorded with its method and body (JSON or form, query parameters merged in). It
keeps enough state to answer like Slack: messages get increasing ``ts`` values,
``chat.update`` changes a stored message, ``conversations.replies`` returns a thread.

Failure injection per method: ``fail("chat.postMessage", error="not_in_channel")``,
``fail(..., status=429, retry_after=0)``, ``fail(..., status=500)``,
``fail(..., delay=2.0)`` (a slow answer, to provoke client timeouts); ``times`` limits
how many calls fail (``None``: every call).

Like Slack, ``chat.postMessage`` and ``chat.update`` refuse a message whose blocks hold
more than ``max_block_chars`` characters of text with ``msg_blocks_too_long`` (Slack has
been seen refusing about 13,000), and blocks that are not a list of objects with a
``type`` with ``invalid_blocks``; set ``max_block_chars = None`` to accept anything.

Chat streaming (``chat.startStream`` / ``appendStream`` / ``stopStream``) answers like
a workspace without it (``feature_not_enabled``) unless ``streaming = True``; then a
stream is a thread reply whose text grows with each append, and a stream in a channel
must name its recipient (user and team) as Slack requires.

OAuth installs (``oauth.v2.access``, per-token ``auth.test``, refreshes, revoking,
the approval page): see :mod:`tests.fakes.slack_oauth`.

``response_url(name)`` gives a URL that records what is posted to it, like the
``response_url`` Slack puts in slash commands and interactions. ``/ws`` is a minimal
Socket Mode endpoint: ``apps.connections.open`` returns it; ``send_socket_envelope``
pushes an envelope to connected clients and ``socket_acks`` holds what they answered.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aiohttp import WSMsgType, web

from tests.fakes.slack_oauth import OAuthFake, basic_credentials

JSON = dict[str, Any]

#: Form fields Slack's clients send as JSON strings.
_JSON_FORM_FIELDS = frozenset({"blocks", "attachments", "view", "metadata"})


@dataclass(frozen=True)
class SlackCall:
    """One recorded request."""

    method: str
    body: JSON
    headers: dict[str, str]
    at: float  # time.monotonic() when it arrived

    @property
    def token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth[len("Bearer ") :]
        token = self.body.get("token")
        return str(token) if token is not None else None


@dataclass
class _Failure:
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    delay: float = 0.0
    remaining: int | None = 1


@dataclass
class StoredMessage:
    channel: str
    ts: str
    text: str
    blocks: list[JSON] = field(default_factory=list)
    thread_ts: str | None = None
    user: str = "UQUORUMBOT"
    updates: int = 0
    posted_at: float = field(default_factory=time.monotonic)
    #: Files shared with the message (``files.completeUploadExternal``): id, name, title.
    files: list[JSON] = field(default_factory=list)
    #: "streaming" while a chat stream is open, "stopped" after ``chat.stopStream``.
    stream: str | None = None

    def as_json(self) -> JSON:
        out: JSON = {
            "type": "message",
            "user": self.user,
            "bot_id": "BQUORUM",
            "ts": self.ts,
            "text": self.text,
            "blocks": self.blocks,
        }
        if self.thread_ts:
            out["thread_ts"] = self.thread_ts
        if self.files:
            out["files"] = self.files
        return out


class FakeSlackAPI(OAuthFake):
    """Fake Slack Web API. Start with :meth:`start` (or use the ``fake_slack`` fixture)."""

    bot_user_id = "UQUORUMBOT"
    team_id = "T0QUORUM"
    #: Text characters Slack accepts in one message's blocks (None: no limit).
    max_block_chars: int | None = 13_000
    #: Whether the workspace has chat streaming (``chat.startStream``...).
    streaming: bool = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[SlackCall] = []
        self._responses: dict[str, list[JSON]] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._messages: dict[tuple[str, str], StoredMessage] = {}
        self._ts = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._uploads: dict[str, bytes] = {}
        self._file_names: dict[str, str] = {}
        self._users: dict[str, JSON] = {}
        self._sockets: list[web.WebSocketResponse] = []
        self.socket_acks: list[JSON] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._init_oauth()

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> FakeSlackAPI:
        started = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:  # surfaced to the caller of start()
                errors.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-slack-api", daemon=True)
        self._thread.start()
        started.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = None
        self._thread = None

    async def _serve(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{name}", self._handle_response_url)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        app.router.add_get("/ws", self._handle_ws)
        app.router.add_get("/oauth/v2/authorize", self._handle_authorize)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None)
        assert sockets
        self.port = int(sockets[0].getsockname()[1])

    async def _shutdown(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- addresses -------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The Web API base URL, to use as ``SLACK_API_URL`` (ends with a slash)."""
        return f"{self.base}/api/"

    @property
    def authorize_url(self) -> str:
        """The approval page, to use as ``SLACK_AUTHORIZE_URL``."""
        return f"{self.base}/oauth/v2/authorize"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.base}/response/{name}"

    # -- configuration ---------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        retry_after: int | None = None,
        delay: float = 0.0,
        times: int | None = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail (``None``: all of them)."""
        if status == 200 and error is None and delay == 0.0:
            raise ValueError("say how the call fails: error=, status= or delay=")
        if status == 429 and retry_after is None:
            retry_after = 0
        with self._lock:
            self._failures.setdefault(method, []).append(
                _Failure(status, error, retry_after, delay, times)
            )

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def set_response(self, method: str, body: JSON) -> None:
        """Answer the next call of ``method`` with ``body`` (queued, used once)."""
        with self._lock:
            self._responses.setdefault(method, []).append(body)

    def add_user(self, user_id: str, *, name: str, real_name: str | None = None) -> None:
        with self._lock:
            self._users[user_id] = {
                "id": user_id,
                "team_id": self.team_id,
                "name": name,
                "real_name": real_name or name,
                "is_bot": False,
                "tz": "Europe/Berlin",
                "profile": {"display_name": name, "real_name": real_name or name},
            }

    def add_message(
        self, channel: str, text: str, *, user: str, thread_ts: str | None = None
    ) -> str:
        """Store a message as if a person had posted it; returns its ts."""
        with self._lock:
            ts = self._next_ts()
            self._messages[(channel, ts)] = StoredMessage(
                channel, ts, text, thread_ts=thread_ts, user=user
            )
        return ts

    # -- inspection ------------------------------------------------------------------

    @property
    def calls(self) -> list[SlackCall]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    def message(self, channel: str, ts: str) -> StoredMessage:
        with self._lock:
            return self._messages[(channel, ts)]

    def messages(self, channel: str | None = None) -> list[StoredMessage]:
        with self._lock:
            found = [m for m in self._messages.values() if channel in (None, m.channel)]
        return sorted(found, key=lambda m: float(m.ts))

    def thread(self, channel: str, ts: str) -> list[StoredMessage]:
        """Replies in the thread of (channel, ts), oldest first (parent excluded)."""
        return [m for m in self.messages(channel) if m.thread_ts == ts and m.ts != ts]

    def response_url_posts(self, name: str | None = None) -> list[JSON]:
        return [c.body for c in self.calls_to("response_url") if name in (None, c.body["_name"])]

    def file_text(self, file_id: str) -> str:
        """What was uploaded as file ``file_id``, as text."""
        with self._lock:
            return self._uploads[file_id].decode()

    def uploads(self) -> dict[str, bytes]:
        with self._lock:
            return dict(self._uploads)

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._failures.clear()
            self._responses.clear()
            self._messages.clear()
            self.socket_acks.clear()

    def wait_for(self, predicate: Callable[[FakeSlackAPI], bool], timeout: float = 5.0) -> bool:
        """Poll (blocking) until ``predicate(self)`` holds; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.01)
        return predicate(self)

    async def async_wait_for(
        self, predicate: Callable[[FakeSlackAPI], bool], wait_s: float = 5.0
    ) -> bool:
        """Like :meth:`wait_for`, without blocking the caller's event loop."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            await asyncio.sleep(0.01)
        return predicate(self)

    # -- Socket Mode -----------------------------------------------------------------

    def socket_clients(self) -> int:
        return len(self._sockets)

    def send_socket_envelope(self, envelope: JSON) -> None:
        """Push one Socket Mode envelope to every connected client."""
        loop = self._loop
        assert loop is not None, "server not started"

        async def send() -> None:
            for ws in list(self._sockets):
                await ws.send_str(json.dumps(envelope))

        asyncio.run_coroutine_threadsafe(send(), loop).result(5)

    async def _handle_ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        self._sockets.append(ws)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    with self._lock:
                        self.socket_acks.append(json.loads(msg.data))
        finally:
            self._sockets.remove(ws)
        return ws

    # -- handlers --------------------------------------------------------------------

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    async def _read_body(self, request: web.Request) -> JSON:
        body: JSON = dict(request.query)
        raw = await request.read()
        ctype = request.headers.get("Content-Type", "")
        if not raw:
            return body
        if "json" in ctype:
            parsed = json.loads(raw)
            if isinstance(parsed, dict):
                body.update(parsed)
            else:
                body["_json"] = parsed
        elif "form" in ctype:
            for key, value in parse_qsl(raw.decode(), keep_blank_values=True):
                if key in _JSON_FORM_FIELDS:
                    try:
                        body[key] = json.loads(value)
                        continue
                    except json.JSONDecodeError:
                        pass
                body[key] = value
        else:
            body["_raw"] = raw.decode(errors="replace")
        credentials = basic_credentials(request.headers.get("Authorization", ""))
        if credentials is not None:
            body.setdefault("client_id", credentials[0])
            body.setdefault("client_secret", credentials[1])
        return body

    def _record(self, method: str, body: JSON, request: web.Request) -> _Failure | None:
        with self._lock:
            self._calls.append(SlackCall(method, body, dict(request.headers), time.monotonic()))
            queue = self._failures.get(method)
            if not queue:
                return None
            failure = queue[0]
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    queue.pop(0)
            return failure

    async def _apply_failure(self, failure: _Failure) -> web.Response | None:
        if failure.delay:
            await asyncio.sleep(failure.delay)
        if failure.status == 429:
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(failure.retry_after or 0)},
            )
        if failure.status != 200:
            return web.Response(status=failure.status, text="Internal Server Error")
        if failure.error:
            return web.json_response({"ok": False, "error": failure.error})
        return None

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await self._read_body(request)
        failure = self._record(method, body, request)
        if failure is not None:
            response = await self._apply_failure(failure)
            if response is not None:
                return response
        token = SlackCall(method, body, dict(request.headers), 0.0).token
        if method == "auth.test":
            answer = self._auth_test_for(token or "")
            if answer is not None:
                return web.json_response(answer)
        elif self.is_revoked(token):
            return web.json_response({"ok": False, "error": "token_revoked"})
        with self._lock:
            queued = self._responses.get(method)
            if queued:
                return web.json_response(queued.pop(0))
        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": True})
        result: JSON = handler(body)
        return web.json_response(result)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        body = await self._read_body(request)
        body["_name"] = request.match_info["name"]
        self._record("response_url", body, request)
        return web.Response(text="ok")

    async def _handle_upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        data = await request.read()
        with self._lock:
            self._uploads[file_id] = data
        self._record("upload", {"file_id": file_id, "size": len(data)}, request)
        return web.Response(text="OK - " + str(len(data)))

    # -- Web API methods -------------------------------------------------------------

    def _api_auth_test(self, body: JSON) -> JSON:
        return {
            "ok": True,
            "url": "https://quorum-test.slack.com/",
            "team": "Quorum Test",
            "user": "quorum",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": "BQUORUM",
            "is_enterprise_install": False,
        }

    def _api_apps_connections_open(self, body: JSON) -> JSON:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/ws"}

    def _post(self, body: JSON) -> StoredMessage:
        channel = str(body.get("channel", ""))
        with self._lock:
            ts = self._next_ts()
            thread_ts = body.get("thread_ts")
            msg = StoredMessage(
                channel=channel,
                ts=ts,
                text=str(body.get("text", "")),
                blocks=list(body.get("blocks") or []),
                thread_ts=str(thread_ts) if thread_ts else None,
            )
            self._messages[(channel, ts)] = msg
        return msg

    def _refuse_blocks(self, body: JSON) -> JSON | None:
        """Slack's answer to blocks it would not accept, or None."""
        blocks = body.get("blocks")
        if blocks is None:
            return None
        if not isinstance(blocks, list) or not all(
            isinstance(b, dict) and b.get("type") for b in blocks
        ):
            return {"ok": False, "error": "invalid_blocks"}
        if self.max_block_chars is not None and block_chars(blocks) > self.max_block_chars:
            return {"ok": False, "error": "msg_blocks_too_long"}
        return None

    def _api_chat_postMessage(self, body: JSON) -> JSON:
        if not body.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        refused = self._refuse_blocks(body)
        if refused is not None:
            return refused
        msg = self._post(body)
        return {"ok": True, "channel": msg.channel, "ts": msg.ts, "message": msg.as_json()}

    def _api_chat_postEphemeral(self, body: JSON) -> JSON:
        if not body.get("channel") or not body.get("user"):
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _api_chat_update(self, body: JSON) -> JSON:
        refused = self._refuse_blocks(body)
        if refused is not None:
            return refused
        key = (str(body.get("channel", "")), str(body.get("ts", "")))
        with self._lock:
            msg = self._messages.get(key)
            if msg is None:
                return {"ok": False, "error": "message_not_found"}
            if "text" in body:
                msg.text = str(body["text"])
            if "blocks" in body:
                msg.blocks = list(body["blocks"] or [])
            msg.updates += 1
            return {"ok": True, "channel": msg.channel, "ts": msg.ts, "text": msg.text}

    def _api_chat_startStream(self, body: JSON) -> JSON:
        if not self.streaming:
            return {"ok": False, "error": "feature_not_enabled"}
        channel, thread_ts = str(body.get("channel") or ""), body.get("thread_ts")
        if not channel or not thread_ts:
            return {"ok": False, "error": "invalid_arguments"}
        if not channel.startswith("D") and not (
            body.get("recipient_user_id") and body.get("recipient_team_id")
        ):
            return {"ok": False, "error": "missing_recipient_user_id"}
        with self._lock:
            ts = self._next_ts()
            self._messages[(channel, ts)] = StoredMessage(
                channel, ts, str(body.get("markdown_text") or ""), thread_ts=str(thread_ts)
            )
            self._messages[(channel, ts)].stream = "streaming"
        return {"ok": True, "channel": channel, "ts": ts}

    def _streaming_message(self, body: JSON) -> StoredMessage | JSON:
        msg = self._messages.get((str(body.get("channel", "")), str(body.get("ts", ""))))
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        if msg.stream != "streaming":
            return {"ok": False, "error": "message_not_in_streaming_state"}
        return msg

    def _api_chat_appendStream(self, body: JSON) -> JSON:
        with self._lock:
            msg = self._streaming_message(body)
            if not isinstance(msg, StoredMessage):
                return msg
            msg.text += str(body.get("markdown_text") or "")
            msg.updates += 1
            return {"ok": True, "channel": msg.channel, "ts": msg.ts}

    def _api_chat_stopStream(self, body: JSON) -> JSON:
        refused = self._refuse_blocks(body)
        if refused is not None:
            return refused
        with self._lock:
            msg = self._streaming_message(body)
            if not isinstance(msg, StoredMessage):
                return msg
            msg.text += str(body.get("markdown_text") or "")
            msg.blocks = list(body.get("blocks") or [])
            msg.stream = "stopped"
            return {"ok": True, "channel": msg.channel, "ts": msg.ts, "message": msg.as_json()}

    def _api_chat_delete(self, body: JSON) -> JSON:
        key = (str(body.get("channel", "")), str(body.get("ts", "")))
        with self._lock:
            if self._messages.pop(key, None) is None:
                return {"ok": False, "error": "message_not_found"}
        return {"ok": True, "channel": key[0], "ts": key[1]}

    def _api_chat_getPermalink(self, body: JSON) -> JSON:
        channel, ts = body.get("channel", ""), str(body.get("message_ts", ""))
        return {
            "ok": True,
            "channel": channel,
            "permalink": f"https://quorum-test.slack.com/archives/{channel}/p{ts.replace('.', '')}",
        }

    def _api_conversations_replies(self, body: JSON) -> JSON:
        channel, ts = str(body.get("channel", "")), str(body.get("ts", ""))
        with self._lock:
            parent = self._messages.get((channel, ts))
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        replies = [parent, *self.thread(channel, ts)]
        return {"ok": True, "messages": [m.as_json() for m in replies], "has_more": False}

    def _api_conversations_history(self, body: JSON) -> JSON:
        channel = str(body.get("channel", ""))
        msgs = [m for m in self.messages(channel) if m.thread_ts in (None, m.ts)]
        return {"ok": True, "messages": [m.as_json() for m in reversed(msgs)], "has_more": False}

    def _api_conversations_info(self, body: JSON) -> JSON:
        channel = str(body.get("channel", ""))
        return {
            "ok": True,
            "channel": {"id": channel, "name": channel.lower(), "is_member": True},
        }

    def _api_users_info(self, body: JSON) -> JSON:
        user_id = str(body.get("user", ""))
        with self._lock:
            user = self._users.get(user_id)
        if user is None:
            user = {
                "id": user_id,
                "team_id": self.team_id,
                "name": user_id.lower(),
                "real_name": user_id,
                "is_bot": False,
                "tz": "UTC",
                "profile": {"display_name": user_id.lower(), "real_name": user_id},
            }
        return {"ok": True, "user": user}

    def _api_views_open(self, body: JSON) -> JSON:
        if not body.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = dict(body.get("view") or {})
        view.update({"id": f"V{next(self._ts):08d}", "team_id": self.team_id})
        return {"ok": True, "view": view}

    def _api_views_update(self, body: JSON) -> JSON:
        view = dict(body.get("view") or {})
        view["id"] = body.get("view_id", "V00000000")
        return {"ok": True, "view": view}

    def _api_views_publish(self, body: JSON) -> JSON:
        return {"ok": True, "view": dict(body.get("view") or {})}

    def _api_reactions_add(self, body: JSON) -> JSON:
        return {"ok": True}

    def _api_files_getUploadURLExternal(self, body: JSON) -> JSON:
        if not body.get("filename") or not str(body.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._file_ids):08d}"
        with self._lock:
            self._file_names[file_id] = str(body["filename"])
        return {"ok": True, "upload_url": f"{self.base}/upload/{file_id}", "file_id": file_id}

    def _api_files_completeUploadExternal(self, body: JSON) -> JSON:
        """Like Slack: the files must have been uploaded; with ``channel_id`` they are
        shared there (in the thread ``thread_ts``) as a message carrying them."""
        files = body.get("files")
        if isinstance(files, str):
            files = json.loads(files)
        with self._lock:
            if not files or any(f.get("id") not in self._uploads for f in files):
                return {"ok": False, "error": "file_not_found"}
            listed = [
                {
                    "id": f["id"],
                    "name": self._file_names.get(f["id"], ""),
                    "title": f.get("title", ""),
                    "size": len(self._uploads[f["id"]]),
                    "channels": [body["channel_id"]] if body.get("channel_id") else [],
                }
                for f in files
            ]
        channel = body.get("channel_id")
        if channel:
            thread_ts = body.get("thread_ts")
            with self._lock:
                ts = self._next_ts()
                self._messages[(str(channel), ts)] = StoredMessage(
                    channel=str(channel),
                    ts=ts,
                    text=str(body.get("initial_comment") or ""),
                    thread_ts=str(thread_ts) if thread_ts else None,
                    files=listed,
                )
        return {"ok": True, "files": listed}


def block_chars(blocks: Any) -> int:
    """Characters of text in ``blocks`` (every ``text`` string, nested or not)."""
    if isinstance(blocks, dict):
        own = len(blocks["text"]) if isinstance(blocks.get("text"), str) else 0
        return own + sum(block_chars(v) for v in blocks.values())
    if isinstance(blocks, list):
        return sum(block_chars(v) for v in blocks)
    return 0


@pytest.fixture
def fake_slack() -> Iterator[FakeSlackAPI]:
    """A started :class:`FakeSlackAPI`, stopped after the test."""
    api = FakeSlackAPI().start()
    try:
        yield api
    finally:
        api.stop()
