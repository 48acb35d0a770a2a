"""What Quorum reads from Slack's payloads, checked once before any listener runs.

Slack signs what it sends, so a request can pass the signature check and still lack a
field or carry one of the wrong type (a probe sent an ``app_mention`` without
``channel``; an older or newer payload could too). Rather than each listener guessing,
this module says, per kind of payload, which fields the listeners read and what they
must be; :func:`problems` lists what is wrong with a body, and the app drops such a
request with one short log line (see :func:`bot.app.build_app`). Listeners may then
index those fields directly. Optional fields are only checked for their type.

It also reads modal inputs (``view.state.values``) without trusting their shape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

JSON = dict[str, Any]
Expect = Literal["id", "str", "url", "dict", "list"]


@dataclass(frozen=True)
class Field:
    """``path``: dotted keys (list indexes as numbers); ``expect``: ``id`` is a token as
    Slack writes its ids, triggers and timestamps (letters, digits, ``.``, ``-``, ``_``)."""

    path: str
    expect: Expect
    required: bool = True


def need(path: str, expect: Expect = "id") -> Field:
    return Field(path, expect, required=True)


def may(path: str, expect: Expect = "str") -> Field:
    return Field(path, expect, required=False)


COMMAND = (
    need("command", "str"),
    need("user_id"),
    need("channel_id"),
    need("trigger_id"),
    may("text"),
    may("response_url", "url"),
    may("team_id"),
)
ENVELOPE = (need("event", "dict"), need("event.type"), may("team_id"))
#: The fields of an event about a message someone wrote (a mention, a message).
WRITTEN = (
    need("event_id"),
    need("event.user"),
    need("event.channel"),
    need("event.ts"),
    may("event.text"),
    may("event.thread_ts"),
)
#: Fields per event type (an event of another type is only checked for its envelope).
EVENTS: Mapping[str, Sequence[Field]] = {
    "app_mention": WRITTEN,
    "reaction_added": (
        need("event.user"),
        need("event.reaction", "str"),
        need("event.item", "dict"),
        may("event.item.type"),
        may("event.item.channel"),
        may("event.item.ts"),
    ),
    "app_home_opened": (need("event.user"), may("event.tab"), may("event.view", "dict")),
    "tokens_revoked": (
        need("event.tokens", "dict"),
        may("event.tokens.oauth", "list"),
        may("event.tokens.bot", "list"),
    ),
}
EVENTS = {**EVENTS, "reaction_removed": EVENTS["reaction_added"]}
#: A message a person wrote (no subtype, no bot): what the DM and correction listeners read.
PERSON_MESSAGE = (*WRITTEN, may("event.channel_type"))
MESSAGE_FLAGS = (may("event.subtype"), may("event.bot_id"))

USER = (need("user", "dict"), need("user.id"), may("team", "dict"))
INTERACTIVE: Mapping[str, Sequence[Field]] = {
    "block_actions": (
        *USER,
        need("actions", "list"),
        need("actions.0", "dict"),
        need("actions.0.action_id"),
        may("actions.0.value"),
        may("actions.0.block_id"),
        may("channel", "dict"),
        may("channel.id"),
        may("container", "dict"),
        may("container.message_ts"),
        may("container.channel_id"),
        may("message", "dict"),
        may("message.ts"),
        may("message.thread_ts"),
        need("trigger_id"),
        may("response_url", "url"),
    ),
    "view_submission": (
        *USER,
        need("view", "dict"),
        need("view.id"),
        need("view.callback_id"),
        may("view.private_metadata"),
        may("view.state", "dict"),
        may("view.state.values", "dict"),
    ),
    "shortcut": (*USER, need("callback_id"), need("trigger_id")),
    "message_action": (
        *USER,
        need("callback_id"),
        need("trigger_id"),
        need("channel", "dict"),
        need("channel.id"),
        need("message", "dict"),
        need("message.ts"),
        may("message.text"),
        may("message.thread_ts"),
        may("response_url", "url"),
    ),
}
INTERACTIVE = {**INTERACTIVE, "view_closed": INTERACTIVE["view_submission"]}

_ABSENT = object()


def _get(body: Any, path: str) -> Any:
    node = body
    for key in path.split("."):
        if isinstance(node, dict):
            node = node.get(key, _ABSENT)
        elif isinstance(node, list) and key.isdigit():
            node = node[int(key)] if int(key) < len(node) else _ABSENT
        else:
            return _ABSENT
        if node is _ABSENT:
            return _ABSENT
    return node


_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
#: A response URL, or "" (as Socket Mode sends for some commands).
_URL = re.compile(r"(?:https?://[^\s/?#]+(?:[/?#]\S*)?)?")


def is_id(value: Any) -> bool:
    """Whether ``value`` looks like a Slack id (a channel, a user, a timestamp)."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def _fits(value: Any, expect: Expect) -> bool:
    if expect == "id":
        return isinstance(value, str) and _ID.fullmatch(value) is not None
    if expect == "url":
        return isinstance(value, str) and _URL.fullmatch(value) is not None
    return isinstance(value, {"str": str, "dict": dict, "list": list}[expect])


def _check(body: Any, fields: Sequence[Field]) -> list[str]:
    out: list[str] = []
    for f in fields:
        value = _get(body, f.path)
        if value is _ABSENT or (value is None and not f.required):
            if f.required:
                out.append(f"{f.path} missing")
            continue
        if not _fits(value, f.expect):
            want = "an id" if f.expect == "id" else f"a {f.expect}"
            out.append(f"{f.path} is not {want}")
    return out


def kind_of(body: Any) -> str:
    """A short name for the kind of payload (for the log line)."""
    if not isinstance(body, dict):
        return "request"
    if "command" in body and "type" not in body:
        return f"command {str(body.get('command'))[:40]}"
    if body.get("type") == "event_callback":
        event = body.get("event")
        kind = event.get("type") if isinstance(event, dict) else None
        return f"event {str(kind)[:40]}" if isinstance(kind, str) else "event"
    return str(body.get("type") or "request")[:40]


def problems(body: Any) -> list[str]:
    """What is missing or of the wrong type in a payload Quorum would act on (empty when
    it is fine, or of a kind Quorum does not read: those are Bolt's to answer)."""
    if not isinstance(body, dict):
        return ["the body is not an object"]
    if body.get("type") == "event_callback":
        found = _check(body, ENVELOPE)
        if found:
            return found
        event = body["event"]
        if event["type"] == "message":
            found = _check(body, MESSAGE_FLAGS)
            if found or event.get("subtype") or event.get("bot_id"):
                return found
            return _check(body, PERSON_MESSAGE)
        return _check(body, EVENTS.get(event["type"], ()))
    kind = body.get("type")
    if isinstance(kind, str) and kind in INTERACTIVE:
        return _check(body, INTERACTIVE[kind])
    if "command" in body or ("trigger_id" in body and "user_id" in body):
        return _check(body, COMMAND)
    return []


# -- modal inputs ----------------------------------------------------------------------


def input_element(values: Any, block_id: str, action_id: str) -> JSON:
    """The submitted element of an input block (``{}`` when absent or oddly shaped):
    ``values`` is a view's ``state.values``."""
    block = values.get(block_id) if isinstance(values, dict) else None
    element = block.get(action_id) if isinstance(block, dict) else None
    return element if isinstance(element, dict) else {}


def input_text(values: Any, block_id: str, action_id: str) -> str | None:
    """A text input's value, or a select's chosen option value; None when there is
    none (or it is not text)."""
    element = input_element(values, block_id, action_id)
    option = element.get("selected_option")
    if isinstance(option, dict):
        value = option.get("value")
        return value if isinstance(value, str) else None
    value = element.get("value")
    return value if isinstance(value, str) else None


def metadata(view: Any) -> JSON:
    """A view's ``private_metadata`` as the object Quorum put there (``{}`` when it is
    not one)."""
    raw = view.get("private_metadata") if isinstance(view, dict) else None
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def state_values(view: Any) -> JSON:
    """A submitted view's ``state.values`` (``{}`` when absent or oddly shaped)."""
    state = view.get("state") if isinstance(view, dict) else None
    values = state.get("values") if isinstance(state, dict) else None
    return values if isinstance(values, dict) else {}
