"""👍 / 👎 / 🚩 as reactions or buttons, and "Best answer" votes.

Reactions on the result message count for the run; on a member's thread reply, for
that answer. Removing a reaction retracts it. Feedback while the database is down, or
on a run that is itself still waiting in the spool, is spooled too and counts once its
run is stored; a button on a run that does not exist gets a polite note. Each person counts once per message and
signal (enforced by the database). A stored 👎 or 🚩 is handed to case intake.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.compare.run_spool import ReactionOutcome, RunNotFoundError, Spooled, parse_run_id
from bot.compare.run_store import RunStore
from bot.listeners._shared import ephemeral, propose_case_later, workspace_id
from bot.messages import compare_result
from bot.runtime.services import Services
from bot.slack.mrkdwn import escape
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
    compare_result.ACTION_UP: SignalKind.UP,
    compare_result.ACTION_DOWN: SignalKind.DOWN,
    compare_result.ACTION_FLAG: SignalKind.FLAG,
}
FEEDBACK_SIDES: dict[str, SignalKind] = {
    compare_result.FEEDBACK_UP: SignalKind.UP,
    compare_result.FEEDBACK_DOWN: SignalKind.DOWN,
}
EMOJI = {SignalKind.UP: "👍", SignalKind.DOWN: "👎", SignalKind.FLAG: "🚩"}
OPPOSITE = {SignalKind.UP: SignalKind.DOWN, SignalKind.DOWN: SignalKind.UP}
#: Signals that make a conversation a candidate eval case.
CASE_SIGNALS = frozenset({SignalKind.DOWN, SignalKind.FLAG})


def reaction_kind(name: str) -> SignalKind | None:
    """The signal of a reaction name; skin tones (``+1::skin-tone-3``) count as the base."""
    return REACTIONS.get(name.split("::", 1)[0])


#: What a person hears when their feedback waits in the spool.
SAVED_LATER = "It's saved and will count shortly."
NOT_FOUND = "Sorry, I can't find that question anymore."


def register(app: AsyncApp, services: Services, store: RunStore) -> None:
    async def on_reaction(
        event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient, *, removed: bool
    ) -> None:
        kind = reaction_kind(str(event.get("reaction", "")))
        item = event.get("item") or {}
        if kind is None or item.get("type") != "message":
            return
        workspace = workspace_id(body)
        if workspace is None:
            return
        user = str(event.get("user", ""))
        channel, ts = str(item.get("channel", "")), str(item.get("ts", ""))
        outcome = await store.message_signal(
            workspace=workspace, channel_id=channel, ts=ts, user_id=user, kind=kind, removed=removed
        )
        if (
            isinstance(outcome, ReactionOutcome)
            and outcome.changed
            and outcome.run_id is not None
            and not removed
            and kind in CASE_SIGNALS
        ):
            propose_case_later(
                services,
                workspace=workspace,
                run_id=outcome.run_id,
                kind=kind.value,
                user_id=user,
                answer_id=outcome.answer_id,
                client=client,
            )

    @app.event("reaction_added")
    async def on_reaction_added(
        event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await on_reaction(event, body, client, removed=False)

    @app.event("reaction_removed")
    async def on_reaction_removed(
        event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await on_reaction(event, body, client, removed=True)

    async def record_button(
        body: dict[str, Any],
        value: str,
        kind: SignalKind,
        user: str,
        channel: str,
        workspace: str,
    ) -> tuple[bool | Spooled, int | None, int | None]:
        """(changed or spooled, run id, answer id when the button sat on one member's
        answer). Raises RunNotFoundError for a stale button."""
        replaces = OPPOSITE.get(kind)
        if value == compare_result.PENDING_RUN:
            # The result was posted before its run was stored: find the run by message.
            message_ts = str((body.get("container") or {}).get("message_ts", ""))
            outcome = await store.message_signal(
                workspace=workspace,
                channel_id=channel,
                ts=message_ts,
                user_id=user,
                kind=kind,
                source=SignalSource.BUTTON,
                replaces=replaces,
            )
            if outcome is None:
                raise RunNotFoundError(f"no run behind {channel}/{message_ts}")
            if isinstance(outcome, Spooled):
                return outcome, None, None
            return outcome.changed, outcome.run_id, outcome.answer_id
        run_id = parse_run_id(value)
        if run_id is None:
            raise RunNotFoundError(f"not a run id: {value[:40]!r}")
        stored = await store.run_signal(
            workspace=workspace,
            run_id=run_id,
            user_id=user,
            kind=kind,
            source=SignalSource.BUTTON,
            replaces=replaces,
        )
        return stored, run_id, None

    async def on_button(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        await give(body, BUTTONS[str(action["action_id"])], str(action.get("value", "")), client)

    @app.action(compare_result.ACTION_FEEDBACK)
    async def on_feedback(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """Slack's own 👍/👎: one current vote per person and run, the last click wins
        (Slack sends no "un-click"; the opposite signal is replaced)."""
        await ack()
        side, _, value = str(action.get("value", "")).partition(":")
        kind = FEEDBACK_SIDES.get(side)
        if kind is None:
            log.info("a feedback button with an unknown value: %r", side[:20])
            channel = (body.get("channel") or {}).get("id")
            await ephemeral(client, channel, body["user"]["id"], NOT_FOUND)
            return
        await give(body, kind, value, client)

    async def give(
        body: dict[str, Any], kind: SignalKind, value: str, client: AsyncWebClient
    ) -> None:
        user = str(body["user"]["id"])
        channel = str(
            (body.get("channel") or {}).get("id")
            or (body.get("container") or {}).get("channel_id")
            or ""
        )
        workspace = workspace_id(body)
        if workspace is None:
            return
        try:
            stored, run_id, answer_id = await record_button(
                body, value, kind, user, channel, workspace
            )
        except RunNotFoundError as exc:
            log.info("a %s button on a run that does not exist: %s", kind.value, exc)
            await ephemeral(client, channel, user, NOT_FOUND)
            return
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
        if isinstance(stored, Spooled):
            text += " " + SAVED_LATER
        await ephemeral(client, channel, user, text)
        if stored is True and run_id is not None and kind in CASE_SIGNALS:
            propose_case_later(
                services,
                workspace=workspace,
                run_id=run_id,
                kind=kind.value,
                user_id=user,
                answer_id=answer_id,
                client=client,
            )

    for action_id in BUTTONS:
        app.action(action_id)(on_button)

    @app.action(compare_result.ACTION_BEST)
    async def on_best(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        user = str(body["user"]["id"])
        channel = (body.get("channel") or {}).get("id")
        thread_ts = (body.get("message") or {}).get("thread_ts")
        try:
            value = json.loads(str(action.get("value", "")))
            run_id, member = parse_run_id(value["run"]), str(value["member"])
        except (ValueError, KeyError, TypeError):
            await ephemeral(client, channel, user, "Sorry, I can't read that vote.")
            return
        name = escape(member)
        workspace = workspace_id(body)
        if workspace is None:
            return
        try:
            if run_id is None:
                raise RunNotFoundError("not a run id")
            vote = await store.vote(workspace=workspace, run_id=run_id, member=member, user_id=user)
        except RunNotFoundError:
            await ephemeral(client, channel, user, "Sorry, I can't find that answer anymore.")
            return
        if isinstance(vote, Spooled):
            text = f"Thanks, your vote for *{name}* is saved and will count shortly."
        elif not vote.outcome.changed:
            text = f"You had already voted for *{name}*."
        elif vote.previous_member is not None:
            text = f"Your vote moved from *{escape(vote.previous_member)}* to *{name}*."
        else:
            text = f"Thanks! Your vote for *{name}* counts toward the model ranking."
        await ephemeral(client, channel, user, text, thread_ts=thread_ts)
