"""Corrections: the "✏️ Correct" modal, and thread replies that start with "correction:".

Both store what the right answer was (and, from the modal, what went wrong and how
badly), thank the person privately and hand the correction to case intake.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.compare.run_spool import RunNotFoundError, Spooled, parse_run_id
from bot.compare.run_store import RunStore
from bot.listeners._shared import ephemeral, propose_case_later, workspace_id
from bot.listeners.compare import unescape_slack
from bot.messages import compare_result, correction_modal
from bot.runtime.services import Services
from bot.slack import payload
from bot.slack.errors import friendly, slack_error_code
from evals.cases.schema import FailureMode, Severity
from evals.errors import StorageError
from storage.records import CorrectionRecord, CorrectionSource

log = logging.getLogger(__name__)

_CORRECTION = re.compile(r"^\s*correction\s*:\s*(?P<text>.*)\Z", re.IGNORECASE | re.DOTALL)
MAX_CORRECTION_CHARS = 3000

THANKS = (
    "Thanks for the correction ✏️. It's saved, and it may become a test case "
    "the panel is checked against."
)
THANKS_LATER = "Thanks for the correction ✏️. It's saved and will count shortly."
NOT_FOUND = "Sorry, I can't find that question anymore."
FORM_REFUSED = "Sorry, Slack would not open the form. Please press *✏️ Correct* again."


def correction_text(message_text: str) -> str | None:
    """The text after "correction:" (None when the message is not a correction)."""
    m = _CORRECTION.match(message_text)
    return m.group("text").strip() if m else None


def _selected(values: dict[str, Any], block_id: str) -> str | None:
    return payload.input_text(values, block_id, correction_modal.CORRECTION_INPUT_ACTION)


def register(app: AsyncApp, services: Services, store: RunStore) -> None:
    @app.action(compare_result.ACTION_CORRECT)
    async def on_correct(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        workspace = workspace_id(body)
        if workspace is None:
            return
        user = str(body["user"]["id"])
        channel = (body.get("channel") or {}).get("id")
        message_ts = (body.get("container") or {}).get("message_ts")
        value = str(action.get("value"))
        run_id = parse_run_id(value)
        if run_id is None and value != compare_result.PENDING_RUN:
            await ephemeral(client, channel, user, NOT_FOUND)
            return
        original: str | None = None
        try:
            if run_id is not None:
                run = await store.get_run(run_id, workspace=workspace)
                if run is None:
                    await ephemeral(client, channel, user, NOT_FOUND)
                    return
            elif channel and message_ts:
                # A channel result: the run is found by its message (it may still be in
                # the spool; the correction then waits there behind it).
                target = await store.lookup(str(channel), str(message_ts), workspace=workspace)
                run = target.run if target else None
            else:
                run = None
            run_id = run.id if run else run_id
            original = run.consensus_text if run else None
        except StorageError:
            log.info("could not read the run for the modal", exc_info=True)
        metadata = {"run_id": run_id, "channel": channel, "ts": message_ts}
        try:
            await client.views_open(
                trigger_id=body["trigger_id"],
                view=correction_modal.correction_modal(metadata, original=original),
            )
        except SlackApiError as exc:
            # An expired trigger (the click was more than 3 s ago) or a refusal: Slack's word.
            log.info("Slack would not open the correction form: %s", slack_error_code(exc))
            await ephemeral(client, channel, user, FORM_REFUSED)
        except Exception as exc:
            await ephemeral(client, channel, user, friendly(exc, action="opening the form"))

    @app.view(correction_modal.CORRECTION_CALLBACK)
    async def on_submit(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
    ) -> None:
        values = payload.state_values(view)
        text = (_selected(values, correction_modal.CORRECTION_ANSWER_BLOCK) or "").strip()
        mode = _selected(values, correction_modal.CORRECTION_MODE_BLOCK)
        severity = (
            _selected(values, correction_modal.CORRECTION_SEVERITY_BLOCK) or Severity.MEDIUM.value
        )
        errors: dict[str, str] = {}
        if not text:
            errors[correction_modal.CORRECTION_ANSWER_BLOCK] = (
                "Please write what the answer should be."
            )
        elif len(text) > MAX_CORRECTION_CHARS:
            errors[correction_modal.CORRECTION_ANSWER_BLOCK] = (
                f"Please keep it under {MAX_CORRECTION_CHARS:,} characters."
            )
        if mode not in {m.value for m in FailureMode}:
            errors[correction_modal.CORRECTION_MODE_BLOCK] = "Please pick what went wrong."
        if severity not in {s.value for s in Severity}:
            errors[correction_modal.CORRECTION_SEVERITY_BLOCK] = "Please pick how bad it is."
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        workspace = workspace_id(body)
        if workspace is None:
            return
        user = str(body["user"]["id"])
        meta = payload.metadata(view)
        channel = meta.get("channel") if isinstance(meta.get("channel"), str) else None
        run_id = parse_run_id(meta["run_id"]) if meta.get("run_id") is not None else None
        if meta.get("run_id") is not None and run_id is None:
            await ephemeral(client, channel, user, NOT_FOUND)
        elif run_id is not None:
            await save_correction(
                services,
                store,
                client,
                workspace=workspace,
                run_id=run_id,
                user=user,
                text=text,
                failure_mode=FailureMode(str(mode)),
                severity=Severity(severity),
                source=CorrectionSource.MODAL,
                channel=channel,
                thread_ts=None,
            )
        elif channel and meta.get("ts"):
            await save_message_correction(
                services,
                store,
                client,
                workspace=workspace,
                channel=str(channel),
                ts=str(meta["ts"]),
                user=user,
                text=text,
                failure_mode=FailureMode(str(mode)),
                severity=Severity(severity),
                source=CorrectionSource.MODAL,
                thread_ts=None,
            )
        else:
            await ephemeral(client, None, user, "Sorry, I lost track of which answer that was.")

    async def is_correction_reply(event: dict[str, Any]) -> bool:
        return (
            bool(event.get("thread_ts"))
            and event.get("thread_ts") != event.get("ts")
            and not event.get("subtype")
            and not event.get("bot_id")
            and correction_text(str(event.get("text") or "")) is not None
        )

    @app.event("message", matchers=[is_correction_reply])
    async def on_correction_reply(
        event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        workspace = workspace_id(body)
        if workspace is None:
            return
        text = unescape_slack(correction_text(str(event.get("text") or "")) or "")
        channel, user = str(event["channel"]), str(event["user"])
        thread_ts = str(event["thread_ts"])
        if not text:
            await ephemeral(
                client,
                channel,
                user,
                "Write the right answer after `correction:`, e.g. `correction: Paris`.",
                thread_ts=thread_ts,
            )
            return
        await save_message_correction(
            services,
            store,
            client,
            workspace=workspace,
            channel=channel,
            ts=thread_ts,
            user=user,
            text=text[:MAX_CORRECTION_CHARS],
            failure_mode=FailureMode.OTHER,
            severity=Severity.MEDIUM,
            source=CorrectionSource.THREAD,
            thread_ts=thread_ts,
        )


async def save_correction(
    services: Services,
    store: RunStore,
    client: AsyncWebClient,
    *,
    workspace: str,
    run_id: int,
    user: str,
    text: str,
    failure_mode: FailureMode,
    severity: Severity,
    source: CorrectionSource,
    channel: str | None,
    thread_ts: str | None,
) -> None:
    try:
        record = await store.correction(
            workspace=workspace,
            run_id=run_id,
            user_id=user,
            correct_answer=text,
            failure_mode=failure_mode,
            severity=severity,
            source=source,
        )
    except RunNotFoundError:
        await ephemeral(client, channel, user, NOT_FOUND, thread_ts)
        return
    await ephemeral(
        client, channel, user, THANKS_LATER if isinstance(record, Spooled) else THANKS, thread_ts
    )
    if isinstance(record, CorrectionRecord):
        propose_case_later(
            services,
            workspace=workspace,
            run_id=run_id,
            kind="correction",
            user_id=user,
            correction_id=record.id,
            client=client,
        )


async def save_message_correction(
    services: Services,
    store: RunStore,
    client: AsyncWebClient,
    *,
    workspace: str,
    channel: str,
    ts: str,
    user: str,
    text: str,
    failure_mode: FailureMode,
    severity: Severity,
    source: CorrectionSource,
    thread_ts: str | None,
) -> None:
    """A correction on the run behind message (channel, ts); silent when not ours."""
    outcome = await store.message_correction(
        workspace=workspace,
        channel_id=channel,
        ts=ts,
        user_id=user,
        correct_answer=text,
        failure_mode=failure_mode,
        severity=severity,
        source=source,
    )
    if outcome is None:
        if source is CorrectionSource.MODAL:
            await ephemeral(client, channel, user, NOT_FOUND, thread_ts)
        return  # a thread reply under a message that is not one of our results
    text = THANKS_LATER if isinstance(outcome, Spooled) else THANKS
    await ephemeral(client, channel, user, text, thread_ts)
    if isinstance(outcome, CorrectionRecord):
        propose_case_later(
            services,
            workspace=workspace,
            run_id=outcome.run_id,
            kind="correction",
            user_id=user,
            correction_id=outcome.id,
            client=client,
        )
