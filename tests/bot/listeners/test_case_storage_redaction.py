"""Every way Slack stores an eval case stores it redacted, over real HTTP.

A hostile question and hostile answers (an AWS key, a Slack token, an email address and a
card number in each) go through each path that writes a case: a 🚩 on the result, a 👎 on
one model's thread reply, the Correct modal (whose correct answer is hostile too), a 👎
merged into an existing case, and the reviewers' Edit modal. None of the four values may
reach a stored case row, a case event, the review-channel notice, the review list, the
editor or a log line of case intake, the listeners or storage; each becomes its placeholder. The production log (the panel run) keeps the
original, as documented.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from sqlalchemy import inspect

from storage.tables.cases import CaseEventRow, CaseRow
from storage.tables.panel_runs import AnswerRow, PanelRunRow
from tests.bot.conftest import Bot
from tests.fakes import slack_requests as sr

REVIEWER = "U0REVIEWER"
SLACK = {"slack": {"reviewers": [REVIEWER], "review_channel": "C0REVIEW"}}
# The hostile questions share most of their words: keep them three cases, not one.
CASES = {"cases": {"duplicate_threshold": 0.999}}
#: The loggers of everything that handles a case (the bot's log handler scrubs the rest).
CASE_LOGGERS = ("bot.compare.case_intake", "bot.listeners", "storage")

AWS_KEY = "AKIAZ7Q3XK4M2PLR9TWV"
SLACK_TOKEN = "xoxb-20480413-99120443-Qm7Lr2Tx9Kp4Wz8Nc3Hv"
EMAIL = "dana.okafor@corp-mail.example"
CARD = "4539 1488 0343 6467"
SECRETS = (AWS_KEY, SLACK_TOKEN, EMAIL, CARD)
#: What each becomes (an edit numbers its values after the placeholders already there).
KINDS = ("API_KEY", "SLACK_TOKEN", "EMAIL", "CARD")


def hostile(lead: str) -> str:
    return (
        f"{lead} Our deploy uses {AWS_KEY} and the bot token {SLACK_TOKEN}; "
        f"mail {EMAIL} and charge card {CARD}."
    )


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (str(k), *_texts(v))]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _texts(v)]
    return [str(value)] if value is not None else []


def _leaked(*values: Any) -> list[str]:
    text = "\n".join(s for v in values for s in _texts(v))
    return [secret for secret in SECRETS if secret in text]


def _columns(row: Any) -> dict[str, Any]:
    """Every stored column of a row, as the database holds it."""
    return {c.key: getattr(row, c.key) for c in inspect(row).mapper.column_attrs}


def _stored_cases(bot: Bot) -> list[dict[str, Any]]:
    return [_columns(r) for r in bot.rows(CaseRow)]


def _assert_nothing_leaked(bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    assert _leaked(_stored_cases(bot)) == []
    assert _leaked([_columns(e) for e in bot.rows(CaseEventRow)]) == []
    notices = bot.slack.messages("C0REVIEW")
    assert notices and _leaked([(m.text, m.blocks) for m in notices]) == []
    lines = [r.getMessage() for r in caplog.records if r.name.startswith(CASE_LOGGERS)]
    assert any("case intake" in line for line in lines)
    assert _leaked(lines) == []


def _script(bot: Bot) -> None:
    bot.models.script("alpha", hostile("Rotate them now."))
    bot.models.script("beta", hostile("Do not paste these:"))
    bot.models.script("gamma", "Never share credentials in Slack.")


async def _ask(bot: Bot, lead: str) -> tuple[int, str]:
    await bot.command(hostile(lead))
    await bot.settle()
    result = bot.results()[-1]
    run = next(r for r in bot.rows(PanelRunRow) if r.message_ts == result.ts)
    return run.id, result.ts


def _case_of(bot: Bot, run_id: int) -> CaseRow:
    (row,) = [r for r in bot.rows(CaseRow) if r.source_run_id == run_id]
    return row


def _assert_placeholders(text: str | None) -> None:
    assert text is not None
    assert [re.search(rf"<{kind}_\d+>", text) is not None for kind in KINDS] == [True] * 4, text


async def test_every_slack_path_that_stores_a_case_stores_it_redacted(
    bot_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bot: Bot = await bot_factory(**SLACK, **CASES)
    _script(bot)

    # 🚩 on the result message
    flagged_run, flagged_ts = await _ask(bot, "Why does the deploy fail?")
    await bot.action(
        action_id="quorum_flag", value=str(flagged_run), user_id="U0BOB", message_ts=flagged_ts
    )
    await bot.settle()
    row = _case_of(bot, flagged_run)
    _assert_placeholders(row.question)
    for answer in (row.observed or {})["answers"][:2]:
        _assert_placeholders(answer["text"])

    # 👎 on one model's thread reply
    down_run, _ = await _ask(bot, "Which credentials leaked into the runbook yesterday?")
    alpha = next(a for a in bot.rows(AnswerRow) if a.run_id == down_run and a.member == "alpha")
    await bot.event(sr.reaction("-1", item_ts=str(alpha.message_ts), user="U0CAROL"))
    await bot.settle()
    row = _case_of(bot, down_run)
    assert "thumbs-down" in row.tags
    _assert_placeholders(row.question)
    assert (row.observed or {})["flagged"] == ["alpha"]

    # the Correct modal, with a hostile correct answer
    corrected_run, corrected_ts = await _ask(bot, "How should the billing job authenticate?")
    result = next(m for m in bot.results() if m.ts == corrected_ts)
    await bot.action(
        action_id="quorum_correct",
        value=result.blocks[-2]["elements"][0]["value"],
        message_ts=corrected_ts,
        trigger_id="T1",
    )
    await bot.settle()
    view = bot.slack.calls_to("views.open")[-1].body["view"]
    select = {"type": "static_select", "selected_option": {"value": "unsafe"}}
    reply = await bot.submit(
        callback_id="quorum_correction",
        private_metadata=view["private_metadata"],
        values={
            "correct_answer": {
                "value": {"type": "plain_text_input", "value": hostile("Revoke everything:")}
            },
            "failure_mode": {"value": select},
            "severity": {"value": {**select, "selected_option": {"value": "high"}}},
        },
    )
    assert reply.status == 200
    await bot.settle()
    row = _case_of(bot, corrected_run)
    assert "failure:unsafe" in row.tags
    _assert_placeholders(row.question)
    _assert_placeholders(row.expected)

    # a 👎 on the flagged result is merged into its case
    await bot.event(sr.reaction("-1", item_ts=flagged_ts, user="U0DAVE"))
    await bot.settle()
    assert _case_of(bot, flagged_run).merged_count == 1

    # the reviewers' Edit modal, typing the secrets into every field it has
    case_id = _case_of(bot, down_run).id
    await bot.action(
        action_id="cases_edit",
        value=case_id,
        user_id=REVIEWER,
        response_url=bot.slack.response_url("edit"),
    )
    await bot.settle()
    editor = bot.slack.calls_to("views.open")[-1].body
    assert _leaked(editor) == []

    def plain(value: str) -> dict[str, Any]:
        return {"value": {"type": "plain_text_input", "value": value}}

    reply = await bot.submit(
        callback_id="cases_edit_submit",
        values={
            "expected": plain(hostile("Expected:")),
            "must_include": plain(f"{AWS_KEY}\n{EMAIL}"),
            "must_not_include": plain(f"{SLACK_TOKEN}\n{CARD}"),
            "category": plain("credentials"),
            "tags": plain("leaky"),
        },
        private_metadata=editor["view"]["private_metadata"],
        user_id=REVIEWER,
    )
    assert reply.status == 200
    await bot.settle()
    row = _case_of(bot, down_run)
    _assert_placeholders(row.expected)
    values = [re.sub(r"_\d+>$", ">", a["value"]) for a in row.assertions]
    assert values == ["<API_KEY>", "<EMAIL>", "<SLACK_TOKEN>", "<CARD>"]
    assert "leaky" in row.tags and _leaked(bot.slack.response_url_posts("edit")) == []

    await bot.command("cases", user_id=REVIEWER, response_url=bot.slack.response_url("list"))
    await bot.settle()
    assert _leaked(bot.slack.response_url_posts("list")) == []

    assert len(bot.rows(CaseRow)) == 3
    _assert_nothing_leaked(bot, caplog)
    # the production log keeps what was asked
    assert all(AWS_KEY in r.question for r in bot.rows(PanelRunRow))
