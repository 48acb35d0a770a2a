"""Signed requests built exactly as Slack sends them, from its documented payload shapes.

Signature (https://api.slack.com/authentication/verifying-requests-from-slack):
``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{raw body}`` with the signing secret,
sent as ``X-Slack-Signature`` with ``X-Slack-Request-Timestamp``. Retries carry
``X-Slack-Retry-Num`` and ``X-Slack-Retry-Reason``.

Bodies: slash commands and interactivity payloads are form-encoded (interactivity as a
single ``payload`` field holding JSON); Events API deliveries are JSON envelopes.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import aiohttp

JSON = dict[str, Any]

TEAM_ID = "T0QUORUM"
API_APP_ID = "A0QUORUM"
_counter = itertools.count(1)


def signature(secret: str, timestamp: int | str, body: str) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignedRequest:
    body: str
    headers: dict[str, str] = field(default_factory=dict)

    def retried(self, retry_num: int = 1, reason: str = "http_timeout") -> SignedRequest:
        """The same delivery as Slack retries it (same body, fresh signature headers)."""
        headers = dict(self.headers)
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = reason
        return SignedRequest(self.body, headers)

    def with_headers(self, **headers: str) -> SignedRequest:
        merged = dict(self.headers)
        merged.update({k.replace("_", "-"): v for k, v in headers.items()})
        return SignedRequest(self.body, merged)


def sign_body(
    secret: str, body: str, content_type: str, *, timestamp: int | None = None
) -> SignedRequest:
    ts = int(time.time()) if timestamp is None else timestamp
    return SignedRequest(
        body,
        {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": signature(secret, ts, body),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        },
    )


def uid(prefix: str) -> str:
    """A fresh id (event ids, trigger ids...)."""
    return f"{prefix}{next(_counter):08d}"


# -- slash commands --------------------------------------------------------------------


def slash_command(
    secret: str, text: str, *, timestamp: int | None = None, **kw: Any
) -> SignedRequest:
    """``/compare text`` as Slack sends it (see :func:`slash_command_form` for the fields)."""
    return form_command(secret, slash_command_form(text, **kw), timestamp=timestamp)


def slash_command_form(
    text: str,
    *,
    user_id: str = "U0ALICE",
    user_name: str = "alice",
    channel_id: str = "C0GENERAL",
    channel_name: str = "general",
    command: str = "/compare",
    response_url: str = "https://hooks.slack.com/commands/T0QUORUM/1/abc",
    trigger_id: str | None = None,
    team_id: str = TEAM_ID,
    enterprise_id: str | None = None,
    is_enterprise_install: bool = False,
) -> dict[str, str]:
    """``team_id``/``enterprise_id``: the workspace (and Enterprise Grid org) it comes
    from; ``is_enterprise_install``: the app is installed org-wide."""
    form = {
        "token": "deprecated-verification-token",
        "team_id": team_id,
        "team_domain": "quorum-test",
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": API_APP_ID,
        "is_enterprise_install": "true" if is_enterprise_install else "false",
        "response_url": response_url,
        "trigger_id": trigger_id or _trigger_id(),
    }
    if enterprise_id is not None:
        form["enterprise_id"] = enterprise_id
    return form


# -- Events API ------------------------------------------------------------------------


def event_envelope(
    secret: str,
    event: Any,
    *,
    event_id: str | None = None,
    timestamp: int | None = None,
    **workspace: Any,
) -> SignedRequest:
    """``workspace``: :func:`envelope`'s ``team_id``, ``enterprise_id`` and
    ``is_enterprise_install``."""
    body = envelope(event, event_id=event_id, **workspace)
    return signed_json(secret, body, timestamp=timestamp)


def signed_json(secret: str, body: Any, timestamp: int | None = None) -> SignedRequest:
    """Any JSON body (an Events API envelope, shaped right or not), signed."""
    return sign_body(secret, json.dumps(body), "application/json", timestamp=timestamp)


def envelope(
    event: Any,
    *,
    event_id: str | None = None,
    team_id: str = TEAM_ID,
    enterprise_id: str | None = None,
    is_enterprise_install: bool = False,
) -> JSON:
    """The Events API envelope around ``event``, from workspace ``team_id``."""
    body: JSON = {
        "token": "deprecated-verification-token",
        "team_id": team_id,
        "api_app_id": API_APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or uid("Ev"),
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": enterprise_id,
                "team_id": None if is_enterprise_install else team_id,
                "user_id": "UQUORUMBOT",
                "is_bot": True,
                "is_enterprise_install": is_enterprise_install,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": uid("4-eyJldCI6ImFwcF9tZW50aW9uIn0-"),
    }
    if enterprise_id is not None:
        body["enterprise_id"] = enterprise_id
    return body


def _ts() -> str:
    return f"{time.time():.6f}"


def _person(user_id: str) -> JSON:
    return {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": TEAM_ID}


def _team() -> JSON:
    return {"id": TEAM_ID, "domain": "quorum-test"}


def _trigger_id() -> str:
    return uid("13345224609.738474920.") + "8ee"


def _button(action_id: str, block_id: str, value: str) -> JSON:
    """One pressed button in a ``block_actions`` payload's ``actions``."""
    return {
        "action_id": action_id,
        "block_id": block_id,
        "value": value,
        "type": "button",
        "action_ts": _ts(),
        "text": {"type": "plain_text", "text": action_id, "emoji": True},
    }


def app_mention(
    text: str,
    *,
    user: str = "U0ALICE",
    channel: str = "C0GENERAL",
    ts: str | None = None,
    thread_ts: str | None = None,
) -> JSON:
    event: JSON = {
        "type": "app_mention",
        "user": user,
        "text": text,
        "ts": ts or _ts(),
        "channel": channel,
        "event_ts": ts or _ts(),
        "team": TEAM_ID,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def message(
    text: str,
    *,
    user: str = "U0ALICE",
    channel: str = "D0ALICE",
    channel_type: str = "im",
    ts: str | None = None,
    thread_ts: str | None = None,
) -> JSON:
    event: JSON = {
        "type": "message",
        "user": user,
        "text": text,
        "ts": ts or _ts(),
        "channel": channel,
        "channel_type": channel_type,
        "event_ts": ts or _ts(),
        "team": TEAM_ID,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
        event["parent_user_id"] = "UQUORUMBOT"
    return event


def reaction(
    reaction_name: str,
    *,
    item_ts: str,
    user: str = "U0ALICE",
    channel: str = "C0GENERAL",
    removed: bool = False,
    item_user: str = "UQUORUMBOT",
) -> JSON:
    return {
        "type": "reaction_removed" if removed else "reaction_added",
        "user": user,
        "reaction": reaction_name,
        "item_user": item_user,
        "item": {"type": "message", "channel": channel, "ts": item_ts},
        "event_ts": _ts(),
    }


# -- interactivity ---------------------------------------------------------------------


def interactive(secret: str, payload: Any, timestamp: int | None = None) -> SignedRequest:
    """Any interactivity payload (shaped right or not), form-encoded and signed."""
    body = urlencode({"payload": json.dumps(payload)})
    return sign_body(secret, body, "application/x-www-form-urlencoded", timestamp=timestamp)


def form_command(secret: str, form: dict[str, str], timestamp: int | None = None) -> SignedRequest:
    """A slash command from its raw form fields (shaped right or not), signed."""
    return sign_body(
        secret, urlencode(form), "application/x-www-form-urlencoded", timestamp=timestamp
    )


def block_action(secret: str, *, timestamp: int | None = None, **kw: Any) -> SignedRequest:
    """A button click as Slack sends it (see :func:`block_action_payload`)."""
    return interactive(secret, block_action_payload(**kw), timestamp)


def block_action_payload(
    *,
    action_id: str,
    value: str,
    block_id: str = "actions",
    user_id: str = "U0ALICE",
    channel_id: str = "C0GENERAL",
    message_ts: str = "1700000000.000001",
    thread_ts: str | None = None,
    response_url: str = "https://hooks.slack.com/actions/T0QUORUM/1/abc",
    trigger_id: str | None = None,
) -> JSON:
    msg: JSON = {"type": "message", "ts": message_ts, "user": "UQUORUMBOT", "text": ""}
    if thread_ts:
        msg["thread_ts"] = thread_ts
    payload: JSON = {
        "type": "block_actions",
        "user": _person(user_id),
        "api_app_id": API_APP_ID,
        "token": "deprecated-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id or _trigger_id(),
        "team": _team(),
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "general"},
        "message": msg,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [_button(action_id, block_id, value)],
    }
    return payload


def view_submission(secret: str, *, timestamp: int | None = None, **kw: Any) -> SignedRequest:
    """A modal submitted, as Slack sends it (see :func:`view_submission_payload`)."""
    return interactive(secret, view_submission_payload(**kw), timestamp)


def view_submission_payload(
    *,
    callback_id: str,
    values: JSON,
    private_metadata: str = "",
    user_id: str = "U0ALICE",
) -> JSON:
    """``values`` is Slack's ``view.state.values``: {block_id: {action_id: {...}}}."""
    payload: JSON = {
        "type": "view_submission",
        "team": _team(),
        "user": _person(user_id),
        "api_app_id": API_APP_ID,
        "token": "deprecated-verification-token",
        "trigger_id": _trigger_id(),
        "view": {
            "id": uid("V"),
            "team_id": TEAM_ID,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": values},
            "hash": "156772938.1827394",
            "title": {"type": "plain_text", "text": "Correct"},
            "blocks": [],
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return payload


def message_shortcut_payload(
    *,
    callback_id: str,
    message: JSON,
    user_id: str = "U0ALICE",
    channel_id: str = "C0GENERAL",
    response_url: str = "https://hooks.slack.com/app/T0QUORUM/1/abc",
    trigger_id: str | None = None,
) -> JSON:
    """A message shortcut (``message_action``) used on ``message`` (Slack's message
    object: ``ts``, ``text``, ``user``, ``thread_ts``...)."""
    return {
        "type": "message_action",
        "token": "deprecated-verification-token",
        "action_ts": _ts(),
        "team": _team(),
        "user": _person(user_id),
        "channel": {"id": channel_id, "name": "general"},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id or _trigger_id(),
        "response_url": response_url,
        "message_ts": message.get("ts"),
        "message": {"type": "message", **message},
    }


def global_shortcut_payload(
    *, callback_id: str, user_id: str = "U0ALICE", trigger_id: str | None = None
) -> JSON:
    """A global shortcut (from the shortcuts menu or the search bar)."""
    return {
        "type": "shortcut",
        "token": "deprecated-verification-token",
        "action_ts": _ts(),
        "team": _team(),
        "user": _person(user_id),
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id or _trigger_id(),
    }


def home_action_payload(
    *, action_id: str, value: str, block_id: str = "actions", user_id: str = "U0ALICE"
) -> JSON:
    """A button pressed on the App Home tab: the container is the view, and there is no
    channel, message or response_url."""
    view_id = uid("V")
    return {
        "type": "block_actions",
        "user": _person(user_id),
        "api_app_id": API_APP_ID,
        "token": "deprecated-verification-token",
        "container": {"type": "view", "view_id": view_id},
        "trigger_id": _trigger_id(),
        "team": _team(),
        "enterprise": None,
        "is_enterprise_install": False,
        "view": {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": "home",
            "blocks": [],
            "state": {"values": {}},
        },
        "actions": [_button(action_id, block_id, value)],
    }


def app_home_opened(user: str = "U0ALICE", tab: str = "home") -> JSON:
    """The ``app_home_opened`` event (someone opened the app's Home or Messages tab)."""
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": "D0ALICE",
        "tab": tab,
        "event_ts": _ts(),
    }


# -- sending ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackReply:
    status: int
    text: str
    elapsed_s: float

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


async def send(session: aiohttp.ClientSession, url: str, request: SignedRequest) -> SlackReply:
    """POST a signed request to the bot and return its answer (like Slack's delivery)."""
    start = time.perf_counter()
    async with session.post(url, data=request.body.encode(), headers=request.headers) as resp:
        text = await resp.text()
        return SlackReply(resp.status, text, time.perf_counter() - start)


# -- other workspaces ------------------------------------------------------------------


def _retarget(node: Any, team: str | None, enterprise: str | None) -> Any:
    """``node`` with every mention of :data:`TEAM_ID` naming ``team`` instead (None: the
    org-level request of an Enterprise Grid org-wide install, which names no team), and
    every enterprise field naming ``enterprise``."""
    if isinstance(node, dict):
        out: JSON = {}
        for key, value in node.items():
            if key in ("enterprise_id",) and (value is None or isinstance(value, str)):
                out[key] = enterprise
            elif key == "enterprise" and (value is None or isinstance(value, dict)):
                out[key] = {"id": enterprise, "name": "Grid Org"} if enterprise else None
            elif key == "is_enterprise_install":
                org_level = enterprise is not None and team is None
                out[key] = org_level if isinstance(value, bool) else str(org_level).lower()
            elif team is None and key == "team" and isinstance(value, dict):
                out[key] = None  # org-wide installs: payload.team is null
            elif team is None and key in ("team_id", "team", "user_team") and value == TEAM_ID:
                continue
            else:
                out[key] = _retarget(value, team, enterprise)
        return out
    if isinstance(node, list):
        return [_retarget(v, team, enterprise) for v in node]
    if isinstance(node, str) and TEAM_ID in node:
        return node.replace(TEAM_ID, team or enterprise or "")
    return node


def for_team(
    secret: str,
    request: SignedRequest,
    team: str | None,
    *,
    enterprise: str | None = None,
) -> SignedRequest:
    """``request`` as Slack sends it from another workspace: ``team`` (a team id), in the
    Enterprise Grid org ``enterprise`` when given; ``team=None`` with an ``enterprise``:
    an org-level request of an org-wide install (no team anywhere). Signed afresh."""
    content_type = request.headers.get("Content-Type", "")
    if content_type.startswith("application/json"):
        body = json.dumps(_retarget(json.loads(request.body), team, enterprise))
        if enterprise is not None and '"enterprise_id"' not in body:
            data = json.loads(body)
            data["enterprise_id"] = enterprise
            body = json.dumps(data)
        return sign_body(secret, body, content_type)
    form = dict(parse_qsl(request.body, keep_blank_values=True))
    if "payload" in form:
        payload = _retarget(json.loads(form["payload"]), team, enterprise)
        if enterprise is not None and payload.get("enterprise") is None:
            payload["enterprise"] = {"id": enterprise, "name": "Grid Org"}
        form["payload"] = json.dumps(payload)
    else:
        form = {k: str(v) for k, v in _retarget(form, team, enterprise).items() if v is not None}
        if enterprise is not None:
            form["enterprise_id"] = enterprise
    return sign_body(secret, urlencode(form), content_type)
