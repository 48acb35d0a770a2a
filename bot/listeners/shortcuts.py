""" "Ask the panel" shortcuts: on a message (the message and its thread become the
question) and global (a modal: the question, and a channel or a direct message for the
answer). Both end in the /compare flow (:func:`bot.listeners.compare.start_compare`):
the same limits, the same delivery claim against Slack retries, the same message.

A message shortcut answers where it was used, as /compare does: in the channel, or in
the thread when the message was a thread reply. When the bot is not in that channel
the flow answers privately, as it does for /compare.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.compare.destination import CompareRequest
from bot.compare.run_store import RunStore
from bot.listeners._shared import ephemeral, workspace_id
from bot.listeners.compare import start_compare, strip_mention, thread_context, unescape_slack
from bot.messages import ask_modal
from bot.runtime.services import Services
from bot.slack import payload
from bot.slack.background_tasks import spawn
from bot.slack.errors import slack_error_code

log = logging.getLogger(__name__)


def message_question(message: dict[str, Any], bot_user_id: str | None) -> str:
    """The text of the message a shortcut was used on, as the models should read it."""
    text = message.get("text")
    if not isinstance(text, str):
        return ""
    return unescape_slack(strip_mention(text, bot_user_id)).strip()


async def open_ask_form(services: Services, client: AsyncWebClient, body: dict[str, Any]) -> None:
    """Open the "Ask the panel" modal for whoever pressed a shortcut or button (``body``,
    Slack's payload: its trigger and user); when Slack will not open it, say so privately."""
    try:
        await client.views_open(
            trigger_id=body["trigger_id"],
            view=ask_modal.ask_modal(services.config.limits.max_question_chars),
        )
    except SlackApiError as exc:
        log.info("Slack would not open the ask form: %s", slack_error_code(exc))
        await ephemeral(client, None, body["user"]["id"], ask_modal.FORM_REFUSED)


def register(app: AsyncApp, services: Services, store: RunStore) -> None:
    @app.shortcut(ask_modal.MESSAGE_SHORTCUT)
    async def on_message_shortcut(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: dict[str, Any]
    ) -> None:
        await ack()
        workspace = workspace_id(body)
        if workspace is None:
            return
        user, channel = body["user"]["id"], body["channel"]["id"]
        message = body["message"]
        ts = message["ts"]
        thread_ts = message.get("thread_ts")
        in_reply = bool(thread_ts) and thread_ts != ts
        bot_user_id = context.get("bot_user_id")
        question = message_question(message, bot_user_id)
        if not question:
            where = thread_ts if in_reply else None
            await ephemeral(client, channel, user, ask_modal.NO_TEXT, where)
            return
        # The thread around the message (its replies, or the thread it is in) as context.
        context_msgs = (
            await thread_context(client, channel, str(thread_ts or ts), ts, bot_user_id)
            if thread_ts or message.get("reply_count")
            else ()
        )
        req = CompareRequest(
            question=question,
            user_id=user,
            channel_id=channel,
            workspace=workspace,
            team_id=(body.get("team") or {}).get("id"),
            thread_ts=thread_ts if in_reply else None,
            response_url=body.get("response_url") or None,
            delivery_key=f"shortcut:{body['trigger_id']}",
            context=context_msgs,
        )
        spawn(start_compare(services, client, store, req), name=f"compare:{req.delivery_key}")

    @app.shortcut(ask_modal.GLOBAL_SHORTCUT)
    async def on_global_shortcut(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        await open_ask_form(services, client, body)

    @app.view(ask_modal.ASK_CALLBACK)
    async def on_ask_submit(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        values = payload.state_values(view)
        question = payload.input_text(values, ask_modal.QUESTION_BLOCK, ask_modal.INPUT) or ""
        question = question.strip()
        where = payload.input_element(values, ask_modal.WHERE_BLOCK, ask_modal.INPUT)
        chosen = where.get("selected_conversation")
        errors: dict[str, str] = {}
        if not question:
            errors[ask_modal.QUESTION_BLOCK] = ask_modal.EMPTY_QUESTION
        if chosen is not None and not payload.is_id(chosen):
            log.warning("the ask form came back with an odd channel; asked to pick again")
            errors[ask_modal.WHERE_BLOCK] = ask_modal.PICK_AGAIN
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        workspace = workspace_id(body)
        if workspace is None:
            return
        user = body["user"]["id"]
        # No channel chosen: the answer comes as a direct message (posting to a user id
        # opens the app's DM with them).
        channel = chosen if isinstance(chosen, str) else user
        req = CompareRequest(
            question=question,
            user_id=user,
            channel_id=channel,
            workspace=workspace,
            team_id=(body.get("team") or {}).get("id"),
            delivery_key=f"view:{view['id']}:{view.get('hash')}",
        )
        spawn(start_compare(services, client, store, req), name=f"compare:{req.delivery_key}")
