"""The OAuth side of the fake Slack Web API: workspaces that install the app, the
tokens Slack issues them, refreshes, and revoking (mixed into
:class:`tests.fakes.slack_api.FakeSlackAPI`).

- ``add_workspace("T0AAA", "Alpha")`` (or an Enterprise Grid org: ``org_wide=True`` with
  ``enterprise_id``) registers a workspace that can install the app.
- ``GET /oauth/v2/authorize?client_id=…&state=…&team=T0AAA`` is Slack's approval page: it
  approves at once and redirects to ``redirect_url`` (or the ``redirect_uri`` given) with
  a one-time ``code`` for that workspace and the ``state``; with ``deny_next = True`` the
  person declines (``error=access_denied``).
- ``oauth.v2.access`` exchanges a code (``grant_type`` absent or ``authorization_code``)
  or a refresh token (``grant_type=refresh_token``) for tokens, checking the client id
  and secret (as form fields or HTTP Basic, as Slack accepts both). Errors as Slack's:
  ``invalid_client_id``, ``bad_client_secret``, ``invalid_code``, ``invalid_refresh_token``.
  With ``token_rotation = True`` the bot token expires in ``token_lifetime_s`` and comes
  with a refresh token.
- ``auth.test`` answers per token: the team, enterprise and bot user of the workspace it
  was issued to; a revoked or expired token gets ``invalid_auth`` / ``token_expired``,
  and any Web API call made with a revoked token ``token_revoked``. Tokens the fake
  never issued (the single-workspace tests' ``xoxb-test-token``) keep the old answers.
- ``revoke(workspace_id)`` invalidates every token of a workspace (what uninstalling
  does); ``workspace_of(token)`` says whose token a recorded call used.
"""

from __future__ import annotations

import base64
import itertools
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

JSON = dict[str, Any]


@dataclass(frozen=True)
class FakeWorkspace:
    id: str  # the team id, or the enterprise id of an org-wide install
    name: str
    enterprise_id: str | None = None
    enterprise_name: str | None = None
    org_wide: bool = False
    installer: str = "U0ADMIN"

    @property
    def bot_user_id(self) -> str:
        return f"UBOT{self.id}"

    @property
    def bot_id(self) -> str:
        return f"BBOT{self.id}"


@dataclass
class IssuedToken:
    workspace: FakeWorkspace
    kind: str  # "bot" or "refresh"
    expires_at: float | None = None
    revoked: bool = False


class OAuthFake:
    """OAuth state and handlers; needs ``_lock`` and ``base`` from the fake it is mixed
    into."""

    client_id = "1111.2222"
    client_secret = "fake-client-secret-0123456789"
    app_id = "A0QUORUM"
    #: Whether Slack issues expiring bot tokens with refresh tokens.
    token_rotation = False
    token_lifetime_s = 12 * 3600
    #: Where the approval page sends people back (the app's registered Redirect URL).
    redirect_url: str | None = None
    #: The next person on the approval page declines.
    deny_next = False

    _lock: threading.Lock

    def _init_oauth(self) -> None:
        self._workspaces: dict[str, FakeWorkspace] = {}
        self._codes: dict[str, FakeWorkspace] = {}
        self._tokens: dict[str, IssuedToken] = {}
        self._token_numbers = itertools.count(1)

    # -- set-up and inspection --------------------------------------------------------

    def add_workspace(
        self,
        workspace_id: str,
        name: str,
        *,
        enterprise_id: str | None = None,
        enterprise_name: str | None = None,
        org_wide: bool = False,
    ) -> FakeWorkspace:
        ws = FakeWorkspace(workspace_id, name, enterprise_id, enterprise_name, org_wide)
        with self._lock:
            self._workspaces[workspace_id] = ws
        return ws

    def issue_code(self, workspace_id: str) -> str:
        """A one-time code, as if someone in ``workspace_id`` approved the app."""
        code = f"code-{workspace_id}-{secrets.token_hex(6)}"
        with self._lock:
            self._codes[code] = self._workspaces[workspace_id]
        return code

    def workspace_of(self, token: str | None) -> str | None:
        """The workspace a token was issued to (None: not issued by this fake)."""
        with self._lock:
            issued = self._tokens.get(token or "")
        return issued.workspace.id if issued else None

    def tokens_of(self, workspace_id: str, kind: str = "bot") -> list[str]:
        with self._lock:
            return [
                t
                for t, i in self._tokens.items()
                if i.workspace.id == workspace_id and i.kind == kind
            ]

    def revoke(self, workspace_id: str) -> None:
        with self._lock:
            for issued in self._tokens.values():
                if issued.workspace.id == workspace_id:
                    issued.revoked = True

    def is_revoked(self, token: str | None) -> bool:
        with self._lock:
            issued = self._tokens.get(token or "")
        return issued is not None and issued.revoked

    # -- the approval page -------------------------------------------------------------

    async def _handle_authorize(self, request: web.Request) -> web.Response:
        query = request.query
        state = query.get("state", "")
        back = query.get("redirect_uri") or self.redirect_url
        self._record("oauth/v2/authorize", dict(query), request)  # type: ignore[attr-defined]
        if query.get("client_id") != self.client_id or not back:
            return web.Response(status=400, text="invalid_client_id or no redirect URL")
        if self.deny_next:
            self.deny_next = False
            raise web.HTTPFound(f"{back}?{urlencode({'error': 'access_denied', 'state': state})}")
        team = query.get("team") or next(iter(self._workspaces), "")
        if team not in self._workspaces:
            return web.Response(status=400, text="unknown team")
        code = self.issue_code(team)
        raise web.HTTPFound(f"{back}?{urlencode({'code': code, 'state': state})}")

    # -- Web API methods ---------------------------------------------------------------

    def _issue(self, ws: FakeWorkspace, kind: str, prefix: str, expires_in: int | None) -> str:
        token = f"{prefix}-{ws.id}-{next(self._token_numbers)}-{secrets.token_hex(8)}"
        expires_at = time.time() + expires_in if expires_in is not None else None
        self._tokens[token] = IssuedToken(ws, kind, expires_at)
        return token

    def _grant(self, ws: FakeWorkspace) -> JSON:
        """The tokens of one grant, with the lock held."""
        if self.token_rotation:
            answer: JSON = {
                "access_token": self._issue(ws, "bot", "xoxe.xoxb-1", self.token_lifetime_s),
                "refresh_token": self._issue(ws, "refresh", "xoxe-1", None),
                "expires_in": self.token_lifetime_s,
            }
        else:
            answer = {"access_token": self._issue(ws, "bot", "xoxb", None)}
        return answer

    def _api_oauth_v2_access(self, body: JSON) -> JSON:
        if body.get("client_id") != self.client_id:
            return {"ok": False, "error": "invalid_client_id"}
        if body.get("client_secret") != self.client_secret:
            return {"ok": False, "error": "bad_client_secret"}
        with self._lock:
            if body.get("grant_type") == "refresh_token":
                issued = self._tokens.get(str(body.get("refresh_token", "")))
                if issued is None or issued.kind != "refresh" or issued.revoked:
                    return {"ok": False, "error": "invalid_refresh_token"}
                issued.revoked = True  # a refresh token is used once
                return {
                    "ok": True,
                    "app_id": self.app_id,
                    "token_type": "bot",
                    "scope": "commands,chat:write",
                    "bot_user_id": issued.workspace.bot_user_id,
                    "team": {"id": issued.workspace.id},
                    **self._grant(issued.workspace),
                }
            ws = self._codes.pop(str(body.get("code", "")), None)
            if ws is None:
                return {"ok": False, "error": "invalid_code"}
            grant = self._grant(ws)
        org_wide = ws.org_wide
        return {
            "ok": True,
            "app_id": self.app_id,
            "authed_user": {"id": ws.installer},
            "scope": "commands,chat:write",
            "token_type": "bot",
            "bot_user_id": ws.bot_user_id,
            "team": None if org_wide else {"id": ws.id, "name": ws.name},
            "enterprise": (
                {"id": ws.enterprise_id, "name": ws.enterprise_name} if ws.enterprise_id else None
            ),
            "is_enterprise_install": org_wide,
            **grant,
        }

    def _auth_test_for(self, token: str) -> JSON | None:
        """auth.test's answer for a token this fake issued (None: not one of them)."""
        with self._lock:
            issued = self._tokens.get(token)
        if issued is None:
            return None
        if issued.revoked or issued.kind != "bot":
            return {"ok": False, "error": "invalid_auth"}
        if issued.expires_at is not None and issued.expires_at < time.time():
            return {"ok": False, "error": "token_expired"}
        ws = issued.workspace
        return {
            "ok": True,
            "url": f"https://{ws.name.lower()}.slack.com/",
            "team": ws.name,
            "user": "quorum",
            "team_id": ws.id,
            "user_id": ws.bot_user_id,
            "bot_id": ws.bot_id,
            "enterprise_id": ws.enterprise_id,
            "is_enterprise_install": ws.org_wide,
        }


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(client id, client secret) from an ``Authorization: Basic`` header."""
    if not header.startswith("Basic "):
        return None
    try:
        decoded = base64.b64decode(header[len("Basic ") :]).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None
