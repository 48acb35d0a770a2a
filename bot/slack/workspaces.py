"""Which workspace a Slack request belongs to, and the single-token directory.

Every listener asks :func:`workspace_of` and scopes everything it reads and writes by
the answer: the team where the action happened (for events, the team the app is
installed in that received it, so a Slack Connect channel shared by two workspaces
stays two); an Enterprise Grid org-level request that names no team: the org's id.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from slack_bolt.request.internals import extract_enterprise_id, extract_team_id
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime.services import Services
from bot.runtime.workspaces import Workspace, WorkspaceDirectory
from bot.slack.background_tasks import spawn
from bot.slack.client import build_client
from bot.slack.oauth import installed_workspaces
from evals.errors import QuorumError
from storage.workspace_repo import claim_unassigned, ensure_workspace

log = logging.getLogger(__name__)

__all__ = [
    "TokenDirectory",
    "Workspace",
    "WorkspaceDirectory",
    "WorkspaceNotes",
    "claim_for_token",
    "directory",
    "workspace_of",
]


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def workspace_of(body: Mapping[str, Any]) -> Workspace | None:
    """The workspace of a request body (slash command form, event envelope, interaction
    payload), as Bolt reads team and enterprise; None when it names neither."""
    data = dict(body)
    try:
        team = _id(extract_team_id(data))
        enterprise = _id(extract_enterprise_id(data))
        if team is None and "authorizations" in data:
            # An org-wide install's authorization names no team: the workspace is the
            # one the event happened in (the envelope's team), as for its commands.
            team = _id(extract_team_id({k: v for k, v in data.items() if k != "authorizations"}))
    except (AttributeError, TypeError):  # a field of an unexpected shape
        return None
    if team is not None:
        return Workspace(team, enterprise)
    if enterprise is not None:
        return Workspace(enterprise, enterprise)
    return None


class WorkspaceNotes:
    """Gives each workspace a request comes from its ``workspaces`` row (with its
    Enterprise Grid org), once per process: the scheduler lists an org-wide install's
    workspaces from these rows, and the org's uninstall finds their data. Written in the
    background; the request never waits for it, and a database that fails is tried
    again on the workspace's next request."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._seen: set[Workspace] = set()

    def note(self, body: Mapping[str, Any]) -> asyncio.Task[Any] | None:
        workspace = workspace_of(body)
        if workspace is None or workspace in self._seen:
            return None
        self._seen.add(workspace)
        return spawn(self._record(workspace), name=f"note-workspace-{workspace.id}")

    async def _record(self, workspace: Workspace) -> None:
        def write() -> None:
            with self.services.db.session() as session:
                ensure_workspace(session, workspace.id, enterprise_id=workspace.enterprise_id)

        try:
            await self.services.db_guard.call(write)
        except QuorumError as exc:
            self._seen.discard(workspace)
            log.info("workspace %s not noted yet (%s)", workspace.id, type(exc).__name__)


class TokenDirectory:
    """Today's mode: one bot token, one workspace (the token's, from ``auth.test``)."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._workspace: Workspace | None = None

    async def workspace(self) -> Workspace:
        """The token's workspace (``auth.test``, asked once; the scheduler's threads
        each run their own event loop, so no loop-bound lock: two first calls at once
        ask twice and agree)."""
        if self._workspace is None:
            found = await self.client.auth_test()
            team = _id(found.get("team_id"))
            enterprise = _id(found.get("enterprise_id"))
            ws_id = team or enterprise
            if ws_id is None:
                raise RuntimeError("auth.test named no team for the bot token")
            self._workspace = Workspace(ws_id, enterprise)
        return self._workspace

    async def installed(self) -> list[Workspace]:
        return [await self.workspace()]

    async def client_for(self, workspace: Workspace) -> AsyncWebClient | None:
        return self.client if workspace.id == (await self.workspace()).id else None


def directory(services: Services) -> WorkspaceDirectory | None:
    """The services' workspace directory, made on first use: the workspaces that
    installed Quorum over OAuth when ``SLACK_CLIENT_ID`` is set, the bot token's one
    workspace when ``SLACK_BOT_TOKEN`` is; None without Slack (a benchmark-only
    deployment)."""
    if services.workspaces is None:
        if services.settings.slack_client_id is not None:
            services.workspaces = installed_workspaces(services)
        elif services.settings.slack_bot_token is not None:
            services.workspaces = TokenDirectory(build_client(services))
    return services.workspaces


async def claim_for_token(services: Services) -> dict[str, int]:
    """Token mode's start: rows stored before workspaces (unassigned) become the token's
    workspace's. Idempotent, one transaction; rows claimed per table. Nothing happens
    without a bot token, or when Slack cannot say whose the token is (logged; the rows
    wait for the next start or ``quorum db assign-workspace``)."""
    if services.settings.slack_client_id is not None:
        return {}  # OAuth: whichever workspace installs first is no owner of old rows
    found = directory(services)
    if found is None:
        return {}
    try:
        installed = await found.installed()
    except Exception as exc:
        log.warning(
            "could not tell the token's workspace (%s); no rows claimed", type(exc).__name__
        )
        return {}
    if len(installed) != 1:
        return {}  # several workspaces: which one owns old rows is an operator's call
    workspace = installed[0]

    def claim() -> dict[str, int]:
        with services.db.session() as session:
            claimed = claim_unassigned(session, workspace.id)
            ensure_workspace(session, workspace.id, enterprise_id=workspace.enterprise_id)
            return claimed

    claimed = await asyncio.to_thread(claim)
    if claimed:
        log.info("rows stored before workspaces now belong to %s: %s", workspace.id, claimed)
    return claimed
