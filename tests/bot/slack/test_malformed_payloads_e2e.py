"""A signed but malformed payload of any kind Quorum listens to gives no traceback
(issue 23, item 6).

Slack signs what it sends, so a request can pass the signature check and still lack a
field, or carry one of the wrong type (a probe did it; an older or newer Slack payload
could too). For every command, event, button and form Quorum registers (see the
``register`` functions in ``bot/listeners``), each field its listener reads is taken
away and replaced by values of the wrong type, one at a time: the bot answers 200 (so
Slack does not retry), logs no traceback, calls no model, stores nothing and posts
nowhere but to a real Slack id. The unbroken payload is sent last, as the control: it
must do what it does, so a kind that silently stopped working cannot pass.
"""

from __future__ import annotations

import copy
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.tables.cases import CaseRow
from storage.tables.panel_runs import CorrectionRow, PanelRunRow, SignalRow, VoteRow
from tests.bot.conftest import SECRET, Bot, ask
from tests.fakes import slack_requests as sr

ALICE = "U0ALICE"
#: Values of the wrong kind put where a field was (besides taking it away).
MISSING = object()
ODD_VALUES: tuple[Any, ...] = (MISSING, None, "", " {}", 12345, {"x": 1}, ["C0GENERAL"])
TABLES = (PanelRunRow, SignalRow, CorrectionRow, VoteRow, CaseRow)
#: What a Slack id looks like (channels, users, DMs).
SLACK_ID = re.compile(r"^[CDGUW][A-Z0-9]{2,}$")
#: Web API methods that change what someone sees in Slack.
WRITES = ("chat.postMessage", "chat.postEphemeral", "chat.update", "views.open", "views.publish")


@dataclass
class World:
    """What the payloads point at: a stored run, its message and thread, a proposed case."""

    run_id: int
    result_ts: str
    reply_ts: str
    case_id: str


@dataclass(frozen=True)
class Kind:
    name: str
    #: ("command" | "event" | "interactive", body) for the world.
    build: Callable[[World], tuple[str, Any]]
    #: Dotted paths (list indexes as numbers) of the fields the listener reads.
    paths: tuple[str, ...]


def _command(text: str) -> Callable[[World], tuple[str, Any]]:
    return lambda w: ("command", sr.slash_command_form(text, user_id=ALICE))


def _event(make: Callable[[World], dict[str, Any]]) -> Callable[[World], tuple[str, Any]]:
    return lambda w: ("event", sr.envelope(make(w)))


def _button(action_id: str, value: Callable[[World], str]) -> Callable[[World], tuple[str, Any]]:
    return lambda w: (
        "interactive",
        sr.block_action_payload(
            action_id=action_id,
            value=value(w),
            message_ts=w.result_ts,
            response_url="RESPONSE_URL",
        ),
    )


def _correction_values() -> dict[str, Any]:
    return {
        "correct_answer": {"value": {"type": "plain_text_input", "value": "Canberra"}},
        "failure_mode": {
            "value": {"type": "static_select", "selected_option": {"value": "wrong_fact"}}
        },
        "severity": {"value": {"type": "static_select", "selected_option": {"value": "high"}}},
    }


def _edit_values() -> dict[str, Any]:
    def text(value: str | None) -> dict[str, Any]:
        return {"value": {"type": "plain_text_input", "value": value}}

    return {
        "expected": text("Canberra"),
        "must_include": text("Canberra"),
        "must_not_include": text(None),
        "category": text("geography"),
        "severity": {"value": {"type": "static_select", "selected_option": {"value": "medium"}}},
        "tags": text("capitals"),
    }


USER_PATHS = ("user", "user.id")
#: Free text: any string there is something a person could have typed.
FREE_TEXT = ("event.text", "message.text", "view.state.values.question.value.value")
#: Optional: leaving these out (or null) is a request Slack does send.
OPTIONAL = ("view.state.values.where.value.selected_conversation", "event.tab")
BUTTON_PATHS = (*USER_PATHS, "actions", "actions.0", "actions.0.action_id", "actions.0.value")
KINDS = [
    Kind(
        "command /compare <question>",
        _command("What is the capital of Australia?"),
        ("user_id", "channel_id", "trigger_id", "command"),
    ),
    Kind("command /compare cases", _command("cases"), ("user_id", "command")),
    Kind(
        "event app_mention",
        _event(lambda w: sr.app_mention("<@UQUORUMBOT> What is the capital of Australia?")),
        ("event", "event.type", "event.channel", "event.user", "event.text", "event_id"),
    ),
    Kind(
        "event message (a DM question)",
        _event(lambda w: sr.message("What is the capital of Australia?")),
        ("event", "event.channel", "event.user", "event.text", "event.ts", "event_id"),
    ),
    Kind(
        "event message (a correction: reply)",
        _event(
            lambda w: sr.message(
                "correction: Canberra",
                channel="C0GENERAL",
                channel_type="channel",
                thread_ts=w.result_ts,
            )
        ),
        ("event", "event.channel", "event.user", "event.text", "event.thread_ts"),
    ),
    Kind(
        "event reaction_added",
        _event(lambda w: sr.reaction("-1", item_ts=w.result_ts)),
        ("event.user", "event.reaction", "event.item", "event.item.channel", "event.item.ts"),
    ),
    Kind(
        "event reaction_removed",
        _event(lambda w: sr.reaction("+1", item_ts=w.result_ts, removed=True)),
        ("event.user", "event.reaction", "event.item", "event.item.channel", "event.item.ts"),
    ),
    *[
        Kind(f"button {a}", _button(a, lambda w: "by-message"), (*BUTTON_PATHS, "container"))
        for a in ("quorum_up", "quorum_down", "quorum_flag")
    ],
    Kind(
        "feedback_buttons quorum_feedback",
        _button("quorum_feedback", lambda w: "down:by-message"),
        (*BUTTON_PATHS, "container"),
    ),
    Kind(
        "button quorum_correct",
        _button("quorum_correct", lambda w: str(w.run_id)),
        (*BUTTON_PATHS, "trigger_id"),
    ),
    Kind(
        "button quorum_best_answer",
        _button("quorum_best_answer", lambda w: json.dumps({"run": w.run_id, "member": "beta"})),
        BUTTON_PATHS,
    ),
    *[
        Kind(f"button {a}", _button(a, lambda w: w.case_id), BUTTON_PATHS)
        for a in ("cases_approve_rotating", "cases_approve_golden", "cases_reject")
    ],
    Kind(
        "button cases_edit",
        _button("cases_edit", lambda w: w.case_id),
        (*BUTTON_PATHS, "trigger_id"),
    ),
    Kind("button cases_page_next", _button("cases_page_next", lambda w: "2"), BUTTON_PATHS),
    Kind(
        "button quorum_review_open",
        _button("quorum_review_open", lambda w: "open"),
        (*USER_PATHS, "response_url"),
    ),
    Kind(
        "form quorum_correction",
        lambda w: (
            "interactive",
            sr.view_submission_payload(
                callback_id="quorum_correction",
                values=_correction_values(),
                private_metadata=json.dumps({"run_id": w.run_id, "channel": "C0GENERAL"}),
            ),
        ),
        (
            *USER_PATHS,
            "view",
            "view.callback_id",
            "view.private_metadata",
            "view.state",
            "view.state.values",
            "view.state.values.correct_answer",
            "view.state.values.correct_answer.value",
            "view.state.values.failure_mode.value.selected_option",
        ),
    ),
    Kind(
        "form cases_edit_submit",
        lambda w: (
            "interactive",
            sr.view_submission_payload(
                callback_id="cases_edit_submit",
                values=_edit_values(),
                private_metadata=json.dumps({"case_id": w.case_id, "page": 1}),
            ),
        ),
        (
            *USER_PATHS,
            "view.private_metadata",
            "view.state.values",
            "view.state.values.expected",
            "view.state.values.expected.value",
            "view.state.values.severity.value",
            "view.state.values.tags",
        ),
    ),
]


KINDS += [
    Kind(
        "shortcut quorum_ask_message",
        lambda w: (
            "interactive",
            sr.message_shortcut_payload(
                callback_id="quorum_ask_message",
                message={"ts": w.result_ts, "text": "Is it Canberra?", "user": "U0BOB"},
                response_url="RESPONSE_URL",
            ),
        ),
        (
            *USER_PATHS,
            "callback_id",
            "trigger_id",
            "channel",
            "channel.id",
            "message",
            "message.ts",
            "message.text",
        ),
    ),
    Kind(
        "shortcut quorum_ask_global",
        lambda w: ("interactive", sr.global_shortcut_payload(callback_id="quorum_ask_global")),
        (*USER_PATHS, "callback_id", "trigger_id"),
    ),
    Kind(
        "form quorum_ask_submit",
        lambda w: (
            "interactive",
            sr.view_submission_payload(
                callback_id="quorum_ask_submit",
                values={
                    "question": {"value": {"type": "plain_text_input", "value": "Canberra?"}},
                    "where": {
                        "value": {
                            "type": "conversations_select",
                            "selected_conversation": "C0GENERAL",
                        }
                    },
                },
            ),
        ),
        (
            *USER_PATHS,
            "view",
            "view.id",
            "view.state.values",
            "view.state.values.question",
            "view.state.values.question.value.value",
            "view.state.values.where.value.selected_conversation",
        ),
    ),
]


KINDS += [
    Kind(
        "event app_home_opened",
        _event(lambda w: sr.app_home_opened()),
        ("event", "event.type", "event.user", "event.tab"),
    ),
    Kind(
        "button quorum_home_ask (on the Home tab)",
        lambda w: (
            "interactive",
            sr.home_action_payload(action_id="quorum_home_ask", value="ask"),
        ),
        (*USER_PATHS, "trigger_id", "actions.0.action_id"),
    ),
    Kind(
        "button cases_approve_golden (on the Home tab)",
        lambda w: (
            "interactive",
            sr.home_action_payload(action_id="cases_approve_golden", value=w.case_id),
        ),
        (*USER_PATHS, "actions.0.value"),
    ),
]


def _mutated(body: Any, path: str, value: Any) -> Any:
    out = copy.deepcopy(body)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = out
    for key in parents:
        node = node[key]
    if value is MISSING:
        del node[last]
    else:
        node[last] = value
    return out


def _request(kind: str, body: Any, bot: Bot, path: str = "") -> sr.SignedRequest:
    """Each delivery with its own id (as Slack's are: the same id is a retry), unless the
    id is what is broken."""
    fresh = sr.uid("Ev")
    if kind == "command":
        form = {k: str(v) for k, v in body.items()}
        form["response_url"] = bot.slack.response_url("cmd")
        if path != "trigger_id":
            form["trigger_id"] = fresh
        return sr.form_command(SECRET, form)
    if kind == "event":
        if path != "event_id":
            body = {**body, "event_id": fresh}
        return sr.signed_json(SECRET, body)
    text = json.dumps(body).replace("RESPONSE_URL", bot.slack.response_url("action"))
    return sr.interactive(SECRET, json.loads(text))


def _command_variants(body: dict[str, Any], path: str) -> list[Any]:
    """Form fields are strings: the odd ones are a missing field, an empty one, junk."""
    return [_mutated(body, path, v) for v in (MISSING, "", " ", "{}", "[1]")]


def _stored(bot: Bot) -> list[list[dict[str, Any]]]:
    with Database.session(bot.db) as session:
        return [
            [
                {c.name: getattr(row, c.name) for c in table.__table__.columns}
                for row in session.scalars(select(table))
            ]
            for table in TABLES
        ]


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def _world(bot: Bot) -> World:
    result = await ask(bot, "What is the capital of Australia?")
    (run,) = bot.rows(PanelRunRow)
    reply = bot.slack.thread(bot.channel, result.ts)[1]
    # a 👍 to take back (reaction_removed), and a flag whose proposed case gets reviewed
    await bot.event(sr.reaction("+1", item_ts=result.ts))
    await bot.action(action_id="quorum_flag", value=str(run.id), user_id="U0BOB")
    await bot.settle()
    (case,) = bot.rows(CaseRow)
    return World(run.id, result.ts, reply.ts, case.id)


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
async def test_a_signed_malformed_payload_is_acknowledged_and_dropped_without_a_traceback(
    bot_factory: Any, caplog: pytest.LogCaptureFixture, kind: Kind
) -> None:
    bot: Bot = await bot_factory(slack={"reviewers": [ALICE]})
    world = await _world(bot)
    request_kind, body = kind.build(world)
    before, model_calls = _stored(bot), bot.models.calls()
    first_call = len(bot.slack.calls)
    statuses: dict[str, int] = {}
    with caplog.at_level(logging.INFO):
        for path in kind.paths:
            variants = (
                _command_variants(body, path)
                if request_kind == "command"
                else [
                    _mutated(body, path, v)
                    for v in ODD_VALUES
                    if not (path in FREE_TEXT and isinstance(v, str))
                    and not (path in OPTIONAL and v in (MISSING, None))
                ]
            )
            for number, variant in enumerate(variants):
                reply = await bot.send(_request(request_kind, variant, bot, path))
                statuses[f"{path}#{number}"] = reply.status
        await bot.settle()

    assert _tracebacks(caplog) == []
    assert {k: s for k, s in statuses.items() if s != 200} == {}
    assert bot.models.calls() == model_calls
    assert _stored(bot) == before
    written = [c for c in bot.slack.calls[first_call:] if c.method in WRITES]
    wrong = [
        (c.method, c.body.get("channel"), c.body.get("user"), c.body.get("user_id"))
        for c in written
        if not all(SLACK_ID.match(str(c.body[f])) for f in ("channel", "user") if f in c.body)
    ]
    assert wrong == []
    assert [c.body for c in written if c.method == "views.open"] == []

    # The control: the same payload, unbroken, does what it does.
    bot.models.script("alpha", "Canberra.")
    bot.models.script("beta", "Canberra.")
    bot.models.script("gamma", "Canberra.")
    calls_before_control = len(bot.slack.calls)
    with caplog.at_level(logging.INFO):
        reply = await bot.send(_request(request_kind, body, bot))
        await bot.settle()
    assert reply.status == 200
    assert _tracebacks(caplog) == []
    changed = _stored(bot) != before or bot.models.calls() > model_calls
    answered = any(
        c.method in (*WRITES, "response_url") for c in bot.slack.calls[calls_before_control:]
    )
    assert changed or answered, f"the unbroken {kind.name} did nothing"
