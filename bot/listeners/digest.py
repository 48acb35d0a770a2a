"""`/compare digest` (this week's digest so far, shown only to the person who asked),
`/compare digest here` and `/compare review here` (where this workspace's digest and
new-case notices go), and the digest's "Open the review list" button.

Register it *before* the general `/compare` listener: Bolt runs the first listener whose
matchers hold, and this one only matches the text ``digest``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.listeners._shared import workspace_id
from bot.listeners.cases_review import review_message, reviewer_status
from bot.messages import case_review
from bot.messages.digest import ACTION_OPEN_REVIEW, digest_blocks, digest_text
from bot.runtime.services import Services
from bot.schedule import jobs
from bot.schedule.cron import JOB_DIGEST
from bot.slack.workspaces import workspace_of
from evals.errors import QuorumError, new_reference
from storage import workspace_repo

log = logging.getLogger("quorum.listeners.digest")

JSON = dict[str, Any]


def is_digest_text(text: str) -> bool:
    return text.strip().lower() in ("digest", "digest preview", "weekly")


CHANNEL_TEXTS = {"digest here": "digest", "review here": "review"}
CHANNEL_SET = {
    "digest": "This workspace's weekly digest will be posted in <#{channel}>. "
    "Invite me here if I'm not in the channel yet.",
    "review": "New eval cases proposed in this workspace will be announced in <#{channel}>. "
    "Invite me here if I'm not in the channel yet.",
}


def channel_purpose(text: str) -> str | None:
    """``digest`` / ``review`` for `/compare digest here` / `/compare review here`."""
    return CHANNEL_TEXTS.get(" ".join(text.lower().split()))


async def preview_blocks(services: Services, workspace: str) -> tuple[str, list[JSON]]:
    """(notification text, blocks) of ``workspace``'s digest for the 7 days up to now
    (no chart)."""
    now = services.clock.now()
    period = jobs.period_for(services, JOB_DIGEST, now)
    weekly = await asyncio.to_thread(
        jobs.weekly_digest,
        services,
        workspace=workspace,
        end=now,
        period=period,
        with_chart=False,
    )
    blocks = digest_blocks(weekly.digest)
    note = {
        "type": "context",
        "elements": [
            {
                "type": "mrkdwn",
                "text": "_Preview, only visible to you. The posted digest adds a chart._",
            }
        ],
    }
    return "Preview: " + digest_text(weekly.digest), [*blocks[:49], note]


def register(app: AsyncApp, services: Services) -> None:
    async def is_digest(command: dict[str, Any]) -> bool:
        return is_digest_text(str(command.get("text") or ""))

    async def is_channel_choice(command: dict[str, Any]) -> bool:
        return channel_purpose(str(command.get("text") or "")) is not None

    @app.command("/compare", matchers=[is_channel_choice])
    async def on_channel_choice(
        ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient
    ) -> None:
        """Where this workspace's digest / review notices go: set by a reviewer (anyone
        while no reviewers are configured)."""
        workspace = workspace_of(command)
        purpose = channel_purpose(str(command.get("text") or ""))
        if workspace is None or purpose is None:
            await ack()
            return
        status = await reviewer_status(services, client, str(command.get("user_id", "")))
        if status == "no":
            await ack(response_type="ephemeral", text=case_review.REFUSAL_TEXT)
            return
        channel = str(command.get("channel_id", ""))

        def save() -> None:
            with services.db.session() as session:
                workspace_repo.set_channel(
                    session,
                    workspace.id,
                    purpose=purpose,
                    channel_id=channel,
                    enterprise_id=workspace.enterprise_id,
                    at=services.clock.now(),
                )

        try:
            await asyncio.to_thread(save)
        except Exception:
            ref = new_reference()
            log.error("saving the %s channel failed [%s]", purpose, ref, exc_info=True)
            await ack(response_type="ephemeral", text=f"Sorry, that was not saved (ref {ref}).")
            return
        await ack(response_type="ephemeral", text=CHANNEL_SET[purpose].format(channel=channel))

    @app.command("/compare", matchers=[is_digest])
    async def on_digest(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        await ack(response_type="ephemeral", text="Gathering this week's numbers…")
        workspace = workspace_id(command)
        if workspace is None:
            return
        try:
            text, blocks = await preview_blocks(services, workspace)
        except Exception as exc:
            ref = new_reference()
            log.error("digest preview failed [%s]", ref, exc_info=True)
            reason = exc.user_message if isinstance(exc, QuorumError) else "Something went wrong."
            await respond(
                response_type="ephemeral",
                replace_original=True,
                text=f"Sorry, the digest preview failed. {reason} (ref {ref})",
            )
            return
        await respond(response_type="ephemeral", replace_original=True, text=text, blocks=blocks)

    @app.action(ACTION_OPEN_REVIEW)
    async def on_open_review(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        """The review list, to the reviewer who clicked (its buttons are the cases
        listeners')."""
        await ack()
        user_id = str(body["user"]["id"])
        workspace = workspace_id(body)
        if workspace is None:
            return

        async def tell(**message: Any) -> None:
            # From a message: privately, in place; from the Home tab (no response_url): a DM.
            if body.get("response_url"):
                await respond(response_type="ephemeral", replace_original=False, **message)
            else:
                await client.chat_postMessage(channel=user_id, **message)

        status = await reviewer_status(services, client, user_id)
        if status != "yes":
            text = (
                case_review.NO_REVIEWERS_TEXT
                if status == "none configured"
                else case_review.REFUSAL_TEXT
            )
            await tell(text=text)
            return

        def page_one() -> dict[str, Any]:
            with services.db.session() as session:
                return review_message(session, 1, workspace=workspace)

        try:
            message = await asyncio.to_thread(page_one)
        except Exception:
            ref = new_reference()
            log.error("opening the review list failed [%s]", ref, exc_info=True)
            await tell(text=f"Sorry, the review list could not be opened (ref {ref}).")
            return
        await tell(**message)
