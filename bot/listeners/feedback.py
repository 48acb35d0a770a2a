"""👍 / 👎 / 🚩 as reactions or buttons, and "Best answer" votes.

Reactions on the result message count for the run; on a member's thread reply, for
that answer. Removing a reaction retracts it. Each person counts once per message and
signal (enforced by the database). A stored 👎 or 🚩 is handed to case intake.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks
from bot.listeners._shared import ephemeral, propose_case_later
from bot.mrkdwn import escape
from bot.run_store import RunStore
from bot.services import Services
from evals.errors import StorageError
from storage.records import SignalKind, SignalSource

log = logging.getLogger(__name__)

REACTIONS: dict[str, SignalKind] = {
    "+1": SignalKind.UP,
    "thumbsup": SignalKind.UP,
    "-1": SignalKind.DOWN,
    "thumbsdown": SignalKind.DOWN,
    "triangular_flag_on_post": SignalKind.FLAG,
    "x": SignalKind.FLAG,
}
BUTTONS: dict[str, SignalKind] = {
    blocks.ACTION_UP: SignalKind.UP,
    blocks.ACTION_DOWN: SignalKind.DOWN,
    blocks.ACTION_FLAG: SignalKind.FLAG,
}
EMOJI = {SignalKind.UP: "👍", SignalKind.DOWN: "👎", SignalKind.FLAG: "🚩"}
OPPOSITE = {SignalKind.UP: SignalKind.DOWN, SignalKind.DOWN: SignalKind.UP}
#: Signals that make a conversation a candidate eval case.
CASE_SIGNALS = frozenset({SignalKind.DOWN, SignalKind.FLAG})


def reaction_kind(name: str) -> SignalKind | None:
    """The signal of a reaction name; skin tones (``+1::skin-tone-3``) count as the base."""
    return REACTIONS.get(name.split("::", 1)[0])


def _run_id(value: str) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def register(app: AsyncApp, services: Services, store: RunStore) -> None:
    async def on_reaction(event: dict[str, Any], client: AsyncWebClient, *, removed: bool) -> None:
        kind = reaction_kind(str(event.get("reaction", "")))
        item = event.get("item") or {}
        if kind is None or item.get("type") != "message":
            return
        user = str(event.get("user", ""))
        channel, ts = str(item.get("channel", "")), str(item.get("ts", ""))
        outcome = await store.message_signal(
            channel_id=channel, ts=ts, user_id=user, kind=kind, removed=removed
        )
        if outcome is not None and outcome.changed and not removed and kind in CASE_SIGNALS:
            propose_case_later(
                services, run_id=outcome.run_id, kind=kind.value, user_id=user, client=client
            )

    @app.event("reaction_added")
    async def on_reaction_added(event: dict[str, Any], client: AsyncWebClient) -> None:
        await on_reaction(event, client, removed=False)

    @app.event("reaction_removed")
    async def on_reaction_removed(event: dict[str, Any], client: AsyncWebClient) -> None:
        await on_reaction(event, client, removed=True)

    async def on_button(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        kind = BUTTONS[str(action["action_id"])]
        user = str(body["user"]["id"])
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
            "channel_id"
        )
        run_id = _run_id(str(action.get("value", "")))
        stored: bool | None = None
        spooled = False
        if run_id is None:
            # The result was posted before its run was stored: find the run by message.
            message_ts = str((body.get("container") or {}).get("message_ts", ""))
            try:
                target = await store.lookup(str(channel), message_ts)
            except StorageError:
                await store.message_signal(
                    channel_id=str(channel),
                    ts=message_ts,
                    user_id=user,
                    kind=kind,
                    source=SignalSource.BUTTON,
                )
                target, spooled = None, True
            if target is None and not spooled:
                await ephemeral(client, channel, user, "Sorry, I can't find that question anymore.")
                return
            run_id = target.run.id if target else None
        if run_id is not None:
            opposite = OPPOSITE.get(kind)
            if opposite is not None:
                await store.retract(run_id=run_id, user_id=user, kind=opposite)
            stored = await store.signal(
                run_id=run_id, user_id=user, kind=kind, source=SignalSource.BUTTON
            )
        emoji = EMOJI[kind]
        if stored is False:
            text = f"You had already given this {emoji}. Thanks!"
        elif kind is SignalKind.FLAG:
            text = "Thanks for flagging this 🚩. It will be reviewed and may become a test case."
        elif kind is SignalKind.DOWN:
            text = (
                "Thanks, noted 👎. If you know the right answer, press *✏️ Correct* "
                "so the panel can be tested on it."
            )
        else:
            text = "Thanks, noted 👍"
        if stored is None:
            text += " (It will be saved as soon as our database is back.)"
        await ephemeral(client, channel, user, text)
        if stored and run_id is not None and kind in CASE_SIGNALS:
            propose_case_later(
                services, run_id=run_id, kind=kind.value, user_id=user, client=client
            )

    for action_id in BUTTONS:
        app.action(action_id)(on_button)

    @app.action(blocks.ACTION_BEST)
    async def on_best(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        user = str(body["user"]["id"])
        channel = (body.get("channel") or {}).get("id")
        thread_ts = (body.get("message") or {}).get("thread_ts")
        try:
            value = json.loads(str(action.get("value", "")))
            run_id, member = int(value["run"]), str(value["member"])
        except (ValueError, KeyError, TypeError):
            await ephemeral(client, channel, user, "Sorry, I can't read that vote.")
            return
        ids = await store.answer_ids(run_id)
        answer_id = ids.get(member)
        if answer_id is None:
            await ephemeral(client, channel, user, "Sorry, I can't find that answer anymore.")
            return
        outcome = await store.vote(run_id=run_id, answer_id=answer_id, user_id=user)
        name = escape(member)
        if outcome is None:
            text = (
                f"Thanks, your vote for *{name}* will be counted as soon as our database is back."
            )
        elif not outcome.changed:
            text = f"You had already voted for *{name}*."
        elif outcome.previous_answer_id is not None:
            previous = next((m for m, i in ids.items() if i == outcome.previous_answer_id), "?")
            text = f"Your vote moved from *{escape(previous)}* to *{name}*."
        else:
            text = f"Thanks! Your vote for *{name}* counts toward the model ranking."
        await ephemeral(client, channel, user, text, thread_ts=thread_ts)
