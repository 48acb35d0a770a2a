"""Installations made over OAuth, kept in Quorum's own database.

slack_sdk's SQLAlchemy installation and state stores are synchronous and Quorum's app is
Bolt's ``AsyncApp``: the async stores here run every store call in a thread of the
:class:`~bot.runtime.db_guard.DbGuard` (bounded waits, the event loop never blocks), on
the tables ``storage.tables.slack_installations`` declares (created by Alembic, not by
the stores). Database errors come out as Quorum's :class:`~evals.errors.StorageError`
whose text never holds a row's values (tokens), or, where Bolt expects one, as a
``BoltError``.

:class:`InstalledWorkspaces` is the workspace directory of an OAuth deployment: every
workspace with a live bot token, and a client for each (its token refreshed first when
the app uses token rotation).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError, SlackTokenRotationError
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from bot.runtime.db_guard import DbGuard
from bot.runtime.workspaces import Workspace
from evals.errors import DatabaseUnavailableError, StorageError
from storage.db import Database
from storage.tables.slack_installations import slack_bots, slack_installations, slack_oauth_states
from storage.workspace_repo import org_workspaces

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Refresh a rotating token when it expires within this many minutes (Bolt's default).
REFRESH_BEFORE_MINUTES = 120


def _safe(action: str, fn: Callable[[], T]) -> Callable[[], T]:
    """``fn`` with SQLAlchemy's errors replaced by Quorum's, naming the action and the
    kind of error only: SQLAlchemy's own text can quote the row (its tokens)."""

    def run() -> T:
        try:
            return fn()
        except (OperationalError, InterfaceError, DisconnectionError):
            raise DatabaseUnavailableError(f"{action}: the database is unreachable") from None
        except SQLAlchemyError as exc:
            raise StorageError(f"{action} failed ({type(exc).__name__})") from None

    return run


def sync_installation_store(client_id: str, db: Database) -> SQLAlchemyInstallationStore:
    store = SQLAlchemyInstallationStore(client_id=client_id, engine=db.engine, logger=log)
    store.bots = slack_bots
    store.installations = slack_installations
    return store


class GuardedInstallationStore(AsyncInstallationStore):
    """slack_sdk's SQLAlchemy installation store, called off the event loop."""

    def __init__(self, client_id: str, db: Database, guard: DbGuard) -> None:
        self.sync = sync_installation_store(client_id, db)
        self.guard = guard

    @property
    def logger(self) -> logging.Logger:
        return log

    async def _call(self, action: str, fn: Callable[[], T]) -> T:
        return await self.guard.call(_safe(action, fn))

    async def async_save(self, installation: Installation) -> None:
        try:
            await self._call("saving a Slack installation", lambda: self.sync.save(installation))
        except StorageError as exc:
            # Bolt's OAuth flow turns a BoltError into its failure page ("storage_error").
            raise BoltError(str(exc)) from None

    async def async_save_bot(self, bot: Bot) -> None:
        await self._call("saving a refreshed bot token", lambda: self.sync.save_bot(bot))

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        return await self._call(
            "finding a workspace's bot token",
            lambda: self.sync.find_bot(
                enterprise_id=enterprise_id,
                team_id=team_id,
                is_enterprise_install=is_enterprise_install,
            ),
        )

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        return await self._call(
            "finding a workspace's installation",
            lambda: self.sync.find_installation(
                enterprise_id=enterprise_id,
                team_id=team_id,
                user_id=user_id,
                is_enterprise_install=is_enterprise_install,
            ),
        )

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self._call(
            "deleting a workspace's bot token",
            lambda: self.sync.delete_bot(enterprise_id=enterprise_id, team_id=team_id),
        )

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await self._call(
            "deleting a workspace's installation",
            lambda: self.sync.delete_installation(
                enterprise_id=enterprise_id, team_id=team_id, user_id=user_id
            ),
        )

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        def both() -> None:
            self.sync.delete_bot(enterprise_id=enterprise_id, team_id=team_id)
            self.sync.delete_installation(enterprise_id=enterprise_id, team_id=team_id)

        await self._call("deleting a workspace's tokens", both)

    async def live_bots(self) -> list[tuple[str | None, str | None]]:
        """(enterprise id, team id) of every install that has a bot token."""
        client_id = self.sync.client_id
        c = slack_bots.c

        def query() -> list[tuple[str | None, str | None]]:
            statement = (
                select(c.enterprise_id, c.team_id)
                .where(c.client_id == client_id, c.bot_token.is_not(None))
                .distinct()
            )
            with self.sync.engine.connect() as conn:
                return [(row[0], row[1]) for row in conn.execute(statement)]

        return await self._call("listing installed workspaces", query)

    async def org_workspaces(self, enterprise_id: str) -> list[str]:
        """The workspaces of an org-wide install that Quorum has had requests from."""

        def query() -> list[str]:
            with Session(self.sync.engine) as session:
                return org_workspaces(session, enterprise_id)

        return await self._call("listing an org's workspaces", query)


class GuardedStateStore(AsyncOAuthStateStore):
    """slack_sdk's SQLAlchemy OAuth state store (one-time ``state`` values of install
    links), called off the event loop. A state that cannot be checked is not valid."""

    def __init__(self, expiration_seconds: int, db: Database, guard: DbGuard) -> None:
        self.sync = SQLAlchemyOAuthStateStore(
            expiration_seconds=expiration_seconds, engine=db.engine, logger=log
        )
        self.sync.oauth_states = slack_oauth_states
        self.guard = guard

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state: str = await self.guard.call(_safe("starting an install", self.sync.issue))
        return state

    async def async_consume(self, state: str) -> bool:
        try:
            ok: bool = await self.guard.call(
                _safe("checking an install link", lambda: self.sync.consume(state))
            )
        except StorageError:
            log.warning("could not check an install link's state: the database failed")
            return False
        return ok


def installed_workspace(enterprise_id: str | None, team_id: str | None) -> Workspace | None:
    """The workspace of a stored install: its team, or the org for an org-wide install."""
    if team_id:
        return Workspace(team_id, enterprise_id)
    if enterprise_id:
        return Workspace(enterprise_id, enterprise_id)
    return None


class InstalledWorkspaces:
    """The workspaces that installed Quorum over OAuth, for the scheduler and the
    digest: each with a client holding its own bot token."""

    def __init__(
        self,
        store: GuardedInstallationStore,
        client: AsyncWebClient,
        rotator: AsyncTokenRotator,
        *,
        refresh_before_minutes: int = REFRESH_BEFORE_MINUTES,
    ) -> None:
        self.store = store
        self.client = client
        self.rotator = rotator
        self.refresh_before_minutes = refresh_before_minutes

    async def installed(self) -> list[Workspace]:
        """Every installed workspace; an Enterprise Grid org-wide install counts as the
        org itself and each of its workspaces Quorum has had requests from (their data
        is kept apart by team, so each gets its own digest)."""
        found = {installed_workspace(e, t) for e, t in await self.store.live_bots()}
        for org in [w for w in found if w is not None and w.id == w.enterprise_id]:
            found.update(Workspace(t, org.id) for t in await self.store.org_workspaces(org.id))
        return sorted({w for w in found if w is not None}, key=lambda w: w.id)

    async def client_for(self, workspace: Workspace) -> AsyncWebClient | None:
        """A client with the workspace's bot token: its own install's, else (a workspace
        of an Enterprise Grid org) the org-wide install's."""
        org_wide = workspace.enterprise_id is not None and workspace.id == workspace.enterprise_id
        bot = await self.store.async_find_bot(
            enterprise_id=workspace.enterprise_id,
            team_id=None if org_wide else workspace.id,
            is_enterprise_install=org_wide,
        )
        if (bot is None or not bot.bot_token) and workspace.enterprise_id and not org_wide:
            bot = await self.store.async_find_bot(
                enterprise_id=workspace.enterprise_id, team_id=None, is_enterprise_install=True
            )
        if bot is None or not bot.bot_token:
            return None
        token = bot.bot_token
        if bot.bot_refresh_token:
            try:
                refreshed = await self.rotator.perform_bot_token_rotation(
                    bot=bot, minutes_before_expiration=self.refresh_before_minutes
                )
            except (SlackTokenRotationError, SlackApiError):
                log.warning("could not refresh the bot token of workspace %s", workspace.id)
                return None
            if refreshed is not None:
                await self.store.async_save_bot(refreshed)
                token = refreshed.bot_token
        return client_with_token(self.client, token)


def client_with_token(client: AsyncWebClient, token: str | None) -> AsyncWebClient:
    """A client like ``client`` (base URL, timeout, retries) with another token."""
    return AsyncWebClient(
        token=token,
        base_url=client.base_url,
        timeout=client.timeout,
        ssl=client.ssl,
        proxy=client.proxy,
        headers=client.headers,
        retry_handlers=client.retry_handlers,
        logger=client.logger,
    )
