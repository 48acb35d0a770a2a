"""/compare, @Quorum mentions (channel or thread) and direct messages: ask the panel.

Every entry point acks at once, then claims the delivery in the database (a Slack
retry never starts a second panel), checks the limits (no model is called when a
limit says no) and runs :func:`bot.compare.flow.run_compare_safely` in the background.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.compare.destination import CompareRequest
from bot.compare.flow import run_compare_safely, tell_user
from bot.compare.limits import ask_kind, check_all, check_size
from bot.compare.run_store import RunStore
from bot.listeners._shared import workspace_id
from bot.messages import commands
from bot.runtime.services import Services
from bot.slack.background_tasks import spawn
from bot.slack.errors import friendly
from evals.records import ChatMessage

log = logging.getLogger(__name__)

MODELS_WINDOW_DAYS = 7
#: Earlier thread messages given to the panel as context when mentioned in a thread.
THREAD_CONTEXT_MESSAGES = 10
THREAD_CONTEXT_CHARS = 8000

_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")


def unescape_slack(text: str) -> str:
    """Slack escapes &, <, > in message text; the models should read the plain text."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def strip_mention(text: str, bot_user_id: str | None) -> str:
    """Remove the bot's own @mention(s) from a message."""

    def drop(m: re.Match[str]) -> str:
        return "" if bot_user_id is None or m.group(1) == bot_user_id else m.group(0)

    return (
        " ".join(_MENTION.sub(drop, text).split())
        if "\n" not in text
        else _MENTION.sub(drop, text).strip()
    )


def command_word(text: str) -> str | None:
    """ "help" / "models" when the whole text is one of those words (or empty → help)."""
    word = text.strip().lower()
    if word in ("", "help", "?", "-h", "--help"):
        return "help"
    if word in ("models", "panel"):
        return "models"
    return None


async def models_text_blocks(
    services: Services, store: RunStore, workspace: str
) -> list[dict[str, Any]]:
    since = services.clock.now() - timedelta(days=MODELS_WINDOW_DAYS)
    try:
        stats = {s.member: s for s in await store.model_stats(since, workspace=workspace)}
    except Exception as exc:
        log.warning("model stats unavailable: %s", friendly(exc, action="reading model stats"))
        stats = {}
    lines = []
    for member in services.members:
        s = stats.get(member.name)
        lines.append(
            commands.ModelLine(
                name=member.name,
                model=member.model,
                weight=member.weight,
                runs=s.answers if s else 0,
                p50_latency_ms=round(s.latency_p50_ms) if s and s.latency_p50_ms else None,
                avg_cost_usd=s.mean_cost_usd if s else None,
                error_rate=s.error_rate if s else None,
            )
        )
    return commands.models_blocks(lines, MODELS_WINDOW_DAYS, [m.name for m in services.shadow])


async def start_compare(
    services: Services, client: AsyncWebClient, store: RunStore, req: CompareRequest
) -> None:
    """Claim the delivery, check the limits, then ask the panel (all in the background)."""
    refusal = check_size(req.question, services.config.limits)
    if refusal is not None:
        await tell_user(client, req, refusal.text)
        return
    if req.delivery_key and not await store.claim(
        req.delivery_key, ask_kind(req.user_id), workspace=req.workspace
    ):
        log.info("delivery %s already handled; ignoring the retry", req.delivery_key)
        return
    refusal = await check_all(
        services.db_guard, services.config.limits, req.user_id, req.question, services.clock.now()
    )
    if refusal is not None:
        log.info("refused %s's question: %s", req.user_id, refusal.reason)
        await tell_user(client, req, refusal.text)
        return
    await run_compare_safely(services, client, store, req)


async def thread_context(
    client: AsyncWebClient, channel: str, thread_ts: str, current_ts: str, bot_user_id: str | None
) -> tuple[ChatMessage, ...]:
    """Earlier messages of the thread as conversation context (best effort)."""
    try:
        resp = await client.conversations_replies(channel=channel, ts=thread_ts, limit=50)
    except Exception:
        log.info("no thread context for %s/%s", channel, thread_ts, exc_info=True)
        return ()
    messages: list[ChatMessage] = []
    for msg in resp.get("messages") or []:
        if msg.get("ts") == current_ts or not msg.get("text"):
            continue
        mine = bool(msg.get("bot_id")) or (
            bot_user_id is not None and msg.get("user") == bot_user_id
        )
        text = unescape_slack(strip_mention(str(msg["text"]), bot_user_id))
        messages.append(ChatMessage("assistant" if mine else "user", text))
    kept: list[ChatMessage] = []
    total = 0
    for m in reversed(messages[-THREAD_CONTEXT_MESSAGES:]):
        total += len(m.content)
        if total > THREAD_CONTEXT_CHARS:
            break
        kept.append(m)
    return tuple(reversed(kept))


def register(app: AsyncApp, services: Services, store: RunStore) -> None:
    @app.command("/compare")
    async def on_compare(
        ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        workspace = workspace_id(command)
        if workspace is None:
            await ack()
            return
        text = str(command.get("text") or "")
        word = command_word(text)
        if word == "help":
            await ack(
                response_type="ephemeral",
                text=commands.HELP_TEXT,
                blocks=commands.help_blocks(),
            )
            return
        await ack()
        if word == "models":
            await respond(
                response_type="ephemeral",
                text="The panel",
                blocks=await models_text_blocks(services, store, workspace),
            )
            return
        req = CompareRequest(
            question=text.strip(),
            user_id=str(command["user_id"]),
            channel_id=str(command["channel_id"]),
            workspace=workspace,
            team_id=command.get("team_id"),
            response_url=command.get("response_url"),
            delivery_key=f"command:{command.get('trigger_id')}",
        )
        spawn(start_compare(services, client, store, req), name=f"compare:{req.delivery_key}")

    async def on_question(
        event: dict[str, Any],
        body: dict[str, Any],
        client: AsyncWebClient,
        context: dict[str, Any],
        *,
        in_dm: bool,
    ) -> None:
        workspace = workspace_id(body)
        if workspace is None:
            return
        bot_user_id = context.get("bot_user_id")
        text = unescape_slack(strip_mention(str(event.get("text") or ""), bot_user_id))
        channel = str(event["channel"])
        user = str(event["user"])
        thread_ts = event.get("thread_ts")
        req = CompareRequest(
            question=text,
            user_id=user,
            channel_id=channel,
            workspace=workspace,
            team_id=body.get("team_id"),
            thread_ts=thread_ts,
            delivery_key=f"event:{body.get('event_id')}",
        )
        word = command_word(text)
        if word is not None:
            if not await store.claim(req.delivery_key or "", "command", workspace=workspace):
                return
            shown = (
                commands.help_blocks()
                if word == "help"
                else await models_text_blocks(services, store, workspace)
            )
            if in_dm:
                await client.chat_postMessage(channel=channel, text="Quorum", blocks=shown)
            else:
                await client.chat_postEphemeral(
                    channel=channel, user=user, text="Quorum", blocks=shown, thread_ts=thread_ts
                )
            return
        if thread_ts:
            context_msgs = await thread_context(
                client, channel, str(thread_ts), str(event.get("ts")), bot_user_id
            )
            req = CompareRequest(**{**req.__dict__, "context": context_msgs})
        spawn(start_compare(services, client, store, req), name=f"compare:{req.delivery_key}")

    @app.event("app_mention")
    async def on_mention(
        event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        await on_question(event, body, client, context, in_dm=False)

    async def is_dm_question(event: dict[str, Any]) -> bool:
        return (
            event.get("channel_type") == "im"
            and not event.get("subtype")
            and not event.get("bot_id")
            and bool(event.get("user"))
        )

    @app.event("message", matchers=[is_dm_question])
    async def on_dm(
        event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        await on_question(event, body, client, context, in_dm=True)
