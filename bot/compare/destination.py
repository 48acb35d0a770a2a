"""Where a /compare shows its progress and result: the request, the message (or the
ephemeral response_url when the bot is not in the channel) and the throttle that keeps
progress updates to about one per second."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.messages import commands
from bot.slack.errors import is_not_in_channel, not_in_channel_text, slack_error_code
from evals.records import ChatMessage

log = logging.getLogger("bot.compare.flow")

#: Seconds between two progress updates of one message.
UPDATE_INTERVAL_S = 1.0

JSON = dict[str, Any]


@dataclass(frozen=True)
class CompareRequest:
    question: str
    user_id: str
    channel_id: str
    #: The workspace that owns the run (see :func:`bot.slack.workspaces.workspace_of`).
    workspace: str
    team_id: str | None = None
    thread_ts: str | None = None  # set when asked inside a thread: answer there
    response_url: str | None = None  # slash commands and interactions
    delivery_key: str | None = None
    context: tuple[ChatMessage, ...] = ()


class MessageThrottle:
    """Coalesce progress updates to at most one per ``interval`` seconds.

    ``poke()`` says "the state changed"; the latest state is sent when the interval since
    the previous send (or the initial post) has passed. ``finish()`` drops a pending
    update and waits for one in flight, so the final result is never overwritten.
    """

    def __init__(
        self,
        send: Callable[[], Awaitable[None]],
        interval: float = UPDATE_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._interval = interval
        self._clock = clock
        self._last = clock()
        self._dirty = False
        self._closed = False
        self._sending = False
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    def poke(self) -> None:
        if self._closed:
            return
        self._dirty = True
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while self._dirty and not self._closed:
            wait = self._last + self._interval - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            if self._closed:
                return
            self._dirty = False
            self._sending = True
            try:
                await self._send()
                self.sent += 1
            except Exception:
                log.warning("a progress update failed; the next one will carry on", exc_info=True)
            finally:
                self._sending = False
                self._last = self._clock()

    async def finish(self) -> None:
        self._closed = True
        task = self._task
        if task is None or task.done():
            return
        if self._sending:
            await asyncio.gather(task, return_exceptions=True)
        else:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class Surface(Protocol):
    """Where the progress and the result are shown."""

    channel_id: str | None
    ts: str | None
    can_update: bool

    async def update(self, blocks_: Sequence[JSON], text: str) -> None: ...

    async def reply(self, blocks_: Sequence[JSON], text: str) -> str | None: ...

    async def upload(self, content: str, filename: str, title: str) -> bool: ...

    async def stream(self, chunks: Sequence[str], blocks_: Sequence[JSON]) -> str | None: ...


class StreamSupport:
    """Whether a workspace lets Quorum stream thread replies (``chat.startStream``):
    after Slack refuses a start, the workspace (``where``: the Web API's URL and the team)
    is not asked again for :data:`STREAM_RETRY_S` seconds. A cache of this process only:
    any process may ask."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._refused: dict[str, float] = {}

    def available(self, where: str) -> bool:
        at = self._refused.get(where)
        return at is None or self._clock() - at > STREAM_RETRY_S

    def refused(self, where: str, why: str | None) -> None:
        if where not in self._refused:
            log.info("chat streaming unavailable (%s); posting thread replies instead", why)
        self._refused[where] = self._clock()


#: Seconds before a workspace that refused chat streaming is asked again.
STREAM_RETRY_S = 3600.0
STREAMS = StreamSupport()


@dataclass
class ChannelSurface:
    """A normal message in a channel, a thread or a DM: updated in place, with a thread."""

    client: AsyncWebClient
    channel_id: str | None
    ts: str | None
    thread_ts: str | None = None
    can_update: bool = True
    #: Who asked, in which workspace: chat streaming in a channel names its recipient.
    recipient_user_id: str | None = None
    team_id: str | None = None
    streams: StreamSupport = field(default_factory=lambda: STREAMS)

    async def update(self, blocks_: Sequence[JSON], text: str) -> None:
        await self.client.chat_update(
            channel=self.channel_id or "", ts=self.ts or "", blocks=list(blocks_), text=text
        )

    async def reply(self, blocks_: Sequence[JSON], text: str) -> str | None:
        resp = await self.client.chat_postMessage(
            channel=self.channel_id or "",
            thread_ts=self.thread_ts or self.ts,
            blocks=list(blocks_),
            text=text,
            unfurl_links=False,
            unfurl_media=False,
        )
        ts = resp.get("ts")
        return str(ts) if ts else None

    async def upload(self, content: str, filename: str, title: str) -> bool:
        """A file in the thread (``files.uploadV2``: get an upload URL, send the bytes,
        complete the upload into the channel and thread)."""
        await self.client.files_upload_v2(
            channel=self.channel_id or "",
            thread_ts=self.thread_ts or self.ts,
            content=content,
            filename=filename,
            title=title,
        )
        return True

    async def stream(self, chunks: Sequence[str], blocks_: Sequence[JSON]) -> str | None:
        """A thread reply streamed with Slack's chat streaming (``chat.startStream``,
        ``appendStream``, ``stopStream`` with ``blocks_`` at its foot); its ts. None when
        the workspace does not stream (the caller posts the reply instead). Raises when
        Slack fails after the stream started."""
        where = f"{self.client.base_url}|{self.team_id}"
        if not chunks or not self.streams.available(where):
            return None
        channel = self.channel_id or ""
        try:
            started = await self.client.chat_startStream(
                channel=channel,
                thread_ts=self.thread_ts or self.ts or "",
                markdown_text=chunks[0],
                recipient_user_id=self.recipient_user_id,
                recipient_team_id=self.team_id,
            )
        except SlackApiError as exc:
            self.streams.refused(where, slack_error_code(exc))
            return None
        ts = started.get("ts")
        if not ts:
            self.streams.refused(where, "no ts")
            return None
        for chunk in chunks[1:]:
            await self.client.chat_appendStream(channel=channel, ts=str(ts), markdown_text=chunk)
        await self.client.chat_stopStream(channel=channel, ts=str(ts), blocks=list(blocks_))
        return str(ts)


@dataclass
class ResponseUrlSurface:
    """An ephemeral answer through a response_url (usable 5 times in 30 minutes).

    No progress updates and no thread: only the final result replaces the notice.
    """

    webhook: AsyncWebhookClient
    channel_id: str | None = None
    ts: str | None = None
    can_update: bool = False
    sent: int = field(default=0)

    async def update(self, blocks_: Sequence[JSON], text: str) -> None:
        await self.webhook.send(
            text=text, blocks=list(blocks_), response_type="ephemeral", replace_original=True
        )
        self.sent += 1

    async def reply(self, blocks_: Sequence[JSON], text: str) -> str | None:
        return None

    async def upload(self, content: str, filename: str, title: str) -> bool:
        return False

    async def stream(self, chunks: Sequence[str], blocks_: Sequence[JSON]) -> str | None:
        return None


async def open_surface(
    client: AsyncWebClient, req: CompareRequest, first: Sequence[JSON], text: str
) -> Surface:
    """Post the first (progress) message; fall back when the bot is not in the channel."""
    try:
        resp = await client.chat_postMessage(
            channel=req.channel_id,
            thread_ts=req.thread_ts,
            blocks=list(first),
            text=text,
            unfurl_links=False,
            unfurl_media=False,
        )
        return ChannelSurface(
            client,
            str(resp["channel"]),
            str(resp["ts"]),
            req.thread_ts,
            recipient_user_id=req.user_id,
            team_id=req.team_id,
        )
    except SlackApiError as exc:
        if not is_not_in_channel(exc):
            raise
    log.info("not in channel %s; answering %s privately", req.channel_id, req.user_id)
    notice = not_in_channel_text(req.channel_id)
    if req.response_url:
        webhook = AsyncWebhookClient(req.response_url)
        await webhook.send(
            text=notice, blocks=commands.notice_blocks(notice), response_type="ephemeral"
        )
        return ResponseUrlSurface(webhook)
    try:
        await client.chat_postEphemeral(channel=req.channel_id, user=req.user_id, text=notice)
    except SlackApiError:
        log.info("ephemeral notice failed too; going straight to a DM")
    resp = await client.chat_postMessage(
        channel=req.user_id, blocks=list(first), text=notice, unfurl_links=False
    )
    return ChannelSurface(
        client,
        str(resp["channel"]),
        str(resp["ts"]),
        recipient_user_id=req.user_id,
        team_id=req.team_id,
    )
