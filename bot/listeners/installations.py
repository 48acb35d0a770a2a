"""A workspace leaves: ``app_uninstalled`` and ``tokens_revoked``.

Uninstalled: the workspace's (or Enterprise Grid org's) tokens are deleted from the
installation store, and its data kept or deleted as ``QUORUM_UNINSTALL_DATA`` says
(``keep`` by default). Tokens revoked: the revoked bot token takes the installation with
it (Quorum cannot act without its bot); revoked user tokens only remove those users'
installations. In single-workspace mode (a bot token in the environment) there is no
store; the data setting still applies to an uninstall.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore

from bot.runtime.services import Services
from bot.slack.installations import installed_workspace
from evals.errors import QuorumError, new_reference
from storage.workspace_repo import delete_workspace_data, org_workspaces

log = logging.getLogger("quorum.listeners.installations")


def register(app: AsyncApp, services: Services, store: AsyncInstallationStore | None) -> None:
    @app.event("app_uninstalled")
    async def on_uninstalled(context: AsyncBoltContext) -> None:
        workspace = installed_workspace(context.enterprise_id, context.team_id)
        if workspace is None:
            log.warning("app_uninstalled without a team or enterprise id; ignored")
            return
        try:
            if store is not None:
                await store.async_delete_all(
                    enterprise_id=context.enterprise_id, team_id=context.team_id
                )
            log.info(
                "Quorum was uninstalled from workspace %s; its tokens are deleted", workspace.id
            )
            if services.settings.quorum_uninstall_data == "delete":
                deleted = await services.db_guard.call(lambda: _delete(services, workspace.id))
                log.info(
                    "deleted workspace %s's data (QUORUM_UNINSTALL_DATA=delete): %s",
                    workspace.id,
                    ", ".join(f"{n} {table}" for table, n in deleted.items()) or "nothing",
                )
        except QuorumError:
            ref = new_reference()
            log.error(
                "could not finish the uninstall of workspace %s [%s] (Slack refuses its "
                "tokens anyway); `QUORUM_UNINSTALL_DATA=delete` needs a rerun by hand",
                workspace.id,
                ref,
                exc_info=True,
            )

    @app.event("tokens_revoked")
    async def on_tokens_revoked(event: dict[str, Any], context: AsyncBoltContext) -> None:
        tokens = event.get("tokens") or {}
        users = [u for u in tokens.get("oauth") or [] if isinstance(u, str)]
        bots = tokens.get("bot") or []
        where = installed_workspace(context.enterprise_id, context.team_id)
        if store is None or where is None:
            return
        if bots:
            await store.async_delete_all(
                enterprise_id=context.enterprise_id, team_id=context.team_id
            )
            log.info(
                "workspace %s revoked Quorum's bot token; its installation is deleted", where.id
            )
            return
        for user in users:
            await store.async_delete_installation(
                enterprise_id=context.enterprise_id, team_id=context.team_id, user_id=user
            )
        if users:
            log.info("workspace %s revoked %d user token(s); deleted", where.id, len(users))


def _delete(services: Services, workspace_id: str) -> dict[str, int]:
    """Delete what ``workspace_id`` owns, in one transaction; for an Enterprise Grid
    org-wide install (its id is the org's), what each of the org's workspaces owns too:
    their rows are kept apart by team."""
    deleted: dict[str, int] = {}
    with services.db.session() as session:
        for owner in [workspace_id, *org_workspaces(session, workspace_id)]:
            for table, count in delete_workspace_data(session, owner).items():
                deleted[table] = deleted.get(table, 0) + count
    return deleted
