"""``--workspace``: which workspace's data a command reads or writes.

Given: that one. Not given: the only workspace the database holds data of; none yet:
the bot token's workspace (``auth.test``), else the unassigned bucket (``""``, what
a deployment without Slack uses, claimed by ``quorum db assign-workspace``). Several and
none given: a friendly error listing them (exit 2), never all of them at once.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Annotated

import typer

from evals.errors import InputError

if TYPE_CHECKING:
    from bot.runtime.settings import Settings
    from storage.db import Database

log = logging.getLogger("quorum.cli")

WorkspaceOption = Annotated[
    str | None,
    typer.Option(
        "--workspace",
        metavar="TEAM_ID",
        help="The Slack workspace (team id, e.g. T0123ABCD) whose data this is "
        "(default: the only one the database holds).",
    ),
]

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _label(workspace: str) -> str:
    return workspace or '"" (unassigned)'


def resolve_workspace(db: Database, settings: Settings, given: str | None) -> str:
    """The workspace a command works on (see the module docstring)."""
    from storage.workspace_repo import workspaces_with_data

    if given is not None:
        if not _ID.fullmatch(given):
            raise InputError(
                f"--workspace {given[:80]!r} is not a workspace id; give a Slack team id "
                "such as T0123ABCD."
            )
        return given
    with db.session() as session:
        found = workspaces_with_data(session)
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        listed = ", ".join(_label(w) for w in found)
        raise InputError(
            f"This database holds the data of several workspaces ({listed}); say which "
            "one with --workspace TEAM_ID."
        )
    return _token_workspace(settings) or ""


def _token_workspace(settings: Settings) -> str | None:
    """The bot token's workspace, when a token is configured and Slack answers."""
    if settings.slack_bot_token is None:
        return None
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.slack.workspaces import TokenDirectory

    client = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=10,
    )
    try:
        return asyncio.run(TokenDirectory(client).workspace()).id
    except Exception as exc:  # Slack unreachable or the token refused: not this command's job
        log.info("could not ask Slack which workspace the token is for: %s", type(exc).__name__)
        return None
