"""Helpers the listeners share: the case-intake hook and ephemeral notes."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.compare import case_intake
from bot.runtime.services import Services
from bot.slack.background_tasks import spawn
from bot.slack.workspaces import workspace_of

log = logging.getLogger("bot.listeners")


def workspace_id(body: dict[str, Any]) -> str | None:
    """The id of the workspace a request belongs to (None, logged: it names none, and
    the listener does nothing, rather than guess whose data to touch)."""
    found = workspace_of(body)
    if found is None:
        log.warning("ignored a Slack request that names no team or enterprise")
        return None
    return found.id


async def propose_case(
    services: Services,
    *,
    workspace: str,
    run_id: int,
    kind: str,
    user_id: str,
    correction_id: int | None = None,
    answer_id: int | None = None,
    client: AsyncWebClient | None = None,
) -> None:
    """Hand a 👎, 🚩 or correction to case intake; failures are logged, never raised."""
    try:
        await case_intake.propose_case_from_signal(
            services,
            workspace=workspace,
            run_id=run_id,
            kind=kind,
            user_id=user_id,
            correction_id=correction_id,
            answer_id=answer_id,
            client=client,
        )
    except Exception:
        log.exception("case intake failed for run %s (%s by %s)", run_id, kind, user_id)


def propose_case_later(
    services: Services,
    *,
    workspace: str,
    run_id: int,
    kind: str,
    user_id: str,
    correction_id: int | None = None,
    answer_id: int | None = None,
    client: AsyncWebClient | None = None,
) -> None:
    """Case intake in the background, after the signal is stored."""
    spawn(
        propose_case(
            services,
            workspace=workspace,
            run_id=run_id,
            kind=kind,
            user_id=user_id,
            correction_id=correction_id,
            answer_id=answer_id,
            client=client,
        ),
        name=f"case-intake:{run_id}:{kind}",
    )


async def ephemeral(
    client: AsyncWebClient, channel: str | None, user: str, text: str, thread_ts: str | None = None
) -> None:
    """A note only ``user`` sees; falls back to a DM when the channel refuses it."""
    try:
        if channel:
            await client.chat_postEphemeral(
                channel=channel, user=user, text=text, thread_ts=thread_ts
            )
            return
    except Exception:
        log.info("ephemeral note in %s failed; sending a DM instead", channel, exc_info=True)
    try:
        await client.chat_postMessage(channel=user, text=text)
    except Exception:
        log.warning("could not reach %s at all", user, exc_info=True)
