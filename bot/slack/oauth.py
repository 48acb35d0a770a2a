"""Installing Quorum into any workspace over OAuth (Bolt's OAuth flow, on Quorum's
database), when ``SLACK_CLIENT_ID`` is set.

``GET /slack/install`` sets a one-time ``state`` (a cookie and a row, valid
:data:`INSTALL_LINK_MINUTES`) and links to Slack's approval page
(``SLACK_AUTHORIZE_URL``); Slack sends the person back to ``GET /slack/oauth_redirect``
with a code, which ``oauth.v2.access`` (at ``SLACK_API_URL``) turns into the workspace's
bot token, stored by :mod:`bot.slack.installations`. Every request from Slack is then
authorized with the token of the workspace (or Enterprise Grid org) it comes from; a
rotating token is refreshed (``oauth.v2.access grant_type=refresh_token``) before it
expires.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime.db_guard import DbGuard
from bot.runtime.services import Services
from bot.runtime.settings import Settings
from bot.slack.client import build_client
from bot.slack.install_pages import failure_page, install_page, success_page
from bot.slack.installations import (
    REFRESH_BEFORE_MINUTES,
    GuardedInstallationStore,
    GuardedStateStore,
    InstalledWorkspaces,
)
from evals.errors import ConfigError
from storage.db import Database

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
#: How long one install link (its ``state``) stays valid.
INSTALL_LINK_MINUTES = 10

#: The bot scopes Quorum asks for; the same list as ``oauth_config.scopes.bot`` in
#: bot/manifest.yaml (a test keeps them equal).
BOT_SCOPES = (
    "app_mentions:read",
    "channels:history",
    "groups:history",
    "im:history",
    "mpim:history",
    "chat:write",
    "commands",
    "reactions:read",
    "users:read",
    "usergroups:read",
    "files:write",
)

#: What a workspace's id looks like (a team T…, an Enterprise Grid org E…).
_SLACK_ID = re.compile(r"[TE][A-Z0-9]{2,30}")

#: What a person sees when Slack sends a request from a workspace without an
#: installation (uninstalled, or its tokens revoked).
NOT_INSTALLED = (
    "Quorum is not installed in this workspace any more, so it cannot answer here. "
    "Ask an admin to install it again from Quorum's install link."
)


def scopes(settings: Settings) -> list[str]:
    if settings.slack_scopes is None:
        return list(BOT_SCOPES)
    return [s.strip() for s in settings.slack_scopes.split(",") if s.strip()]


def _page_headers(settings: AsyncOAuthSettings) -> dict[str, str | Sequence[str]]:
    """An HTML page nobody caches, clearing the install's state cookie."""
    return {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "Set-Cookie": [settings.state_utils.build_set_cookie_for_deletion()],
    }


class QuorumOAuthFlow(AsyncOAuthFlow):
    """Bolt's flow with Quorum's pages, and a ``team`` hint passed on only when it looks
    like a Slack id (Bolt pastes it into the authorize URL as it is)."""

    async def build_authorize_url(self, state: str, request: AsyncBoltRequest) -> str:
        hints = request.query.get("team") or []
        team = hints[0] if hints and _SLACK_ID.fullmatch(hints[0]) else None
        return self.settings.authorize_url_generator.generate(state=state, team=team)

    async def build_install_page_html(self, url: str, request: AsyncBoltRequest) -> str:
        return install_page(url)


async def _success(args: AsyncSuccessArgs) -> BoltResponse:
    inst = args.installation
    open_url = "slack://open"
    if inst.team_id and inst.app_id:
        open_url = f"slack://app?team={inst.team_id}&id={inst.app_id}"
    name = inst.team_name or inst.enterprise_name
    return BoltResponse(
        status=200,
        body=success_page(name, open_url),
        headers=_page_headers(args.settings),
    )


async def _failure(args: AsyncFailureArgs) -> BoltResponse:
    status = args.suggested_status_code
    if status >= 500:
        status = 503
    return BoltResponse(
        status=status,
        body=failure_page(args.reason, args.settings.install_path),
        headers=_page_headers(args.settings),
    )


@dataclass
class OAuth:
    """Everything the app and the server need for OAuth installs."""

    flow: QuorumOAuthFlow
    authorize: AsyncInstallationStoreAuthorize
    store: GuardedInstallationStore
    workspaces: InstalledWorkspaces


def build_oauth(
    settings: Settings, db: Database, guard: DbGuard, client: AsyncWebClient
) -> OAuth | None:
    """The OAuth parts, or None in single-workspace (bot token) mode. ``client`` is the
    app's client (``SLACK_API_URL``): oauth.v2.access and token refreshes go through it."""
    if settings.slack_client_id is None:
        return None
    secret = settings.slack_client_secret
    if secret is None:
        raise ConfigError("SLACK_CLIENT_ID is set without SLACK_CLIENT_SECRET; set both")
    client_id, client_secret = settings.slack_client_id, secret.get_secret_value()
    store = GuardedInstallationStore(client_id, db, guard)
    state_seconds = INSTALL_LINK_MINUTES * 60
    oauth_settings = AsyncOAuthSettings(
        client_id=client_id,
        client_secret=client_secret,
        scopes=scopes(settings),
        user_scopes=[],
        redirect_uri=settings.slack_redirect_uri,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        callback_options=AsyncCallbackOptions(success=_success, failure=_failure),
        authorization_url=settings.slack_authorize_url,
        installation_store=store,
        token_rotation_expiration_minutes=REFRESH_BEFORE_MINUTES,
        state_store=GuardedStateStore(state_seconds, db, guard),
        state_expiration_seconds=state_seconds,
    )
    # Bolt's default authorize refreshes tokens through a client of its own (slack.com):
    # this one uses the app's client, so refreshes go to SLACK_API_URL too.
    authorize = AsyncInstallationStoreAuthorize(
        logger=logging.getLogger("slack_bolt.authorize"),
        installation_store=store,
        client_id=client_id,
        client_secret=client_secret,
        token_rotation_expiration_minutes=REFRESH_BEFORE_MINUTES,
        client=client,
    )
    rotator = AsyncTokenRotator(client_id=client_id, client_secret=client_secret, client=client)
    return OAuth(
        flow=QuorumOAuthFlow(client=client, settings=oauth_settings),
        authorize=authorize,
        store=store,
        workspaces=InstalledWorkspaces(store, client, rotator),
    )


def installed_workspaces(services: Services) -> InstalledWorkspaces | None:
    """The workspace directory of an OAuth deployment (for the scheduler and the digest),
    or None in single-workspace mode."""
    oauth = build_oauth(services.settings, services.db, services.db_guard, build_client(services))
    return oauth.workspaces if oauth else None
