"""The Correct modal, "correction:" thread replies, /compare help and /compare models."""

from __future__ import annotations

import json
from typing import Any

import pytest

from evals.cases.schema import FailureMode
from storage.tables.panel_runs import AnswerRow, CorrectionRow, PanelRunRow
from tests.bot.conftest import Bot, ask, block_text
from tests.fakes import slack_requests as sr


@pytest.fixture
def intake(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    async def record(services: Any, **kwargs: Any) -> None:
        calls.append(kwargs)

    monkeypatch.setattr("bot.compare.case_intake.propose_case_from_signal", record)
    return calls


def _values(answer: str | None, mode: str | None, severity: str | None) -> dict[str, Any]:
    def select(v: str | None) -> dict[str, Any]:
        return {"type": "static_select", "selected_option": {"value": v} if v else None}

    return {
        "correct_answer": {"value": {"type": "plain_text_input", "value": answer}},
        "failure_mode": {"value": select(mode)},
        "severity": {"value": select(severity)},
    }


async def test_correct_opens_the_modal_and_submitting_stores_the_correction(
    bot: Bot, intake: list[dict[str, Any]]
) -> None:
    result = await ask(bot)
    (run,) = bot.rows(PanelRunRow)
    value = result.blocks[-2]["elements"][0]["value"]
    await bot.action(
        action_id="quorum_correct", value=value, message_ts=result.ts, trigger_id="T123"
    )
    await bot.settle()
    (opened,) = bot.slack.calls_to("views.open")
    assert opened.body["trigger_id"] == "T123"
    view = opened.body["view"]
    assert view["callback_id"] == "quorum_correction"
    shown = block_text(view["blocks"])
    for label in (
        "The correct answer",
        "What went wrong",
        "How bad is it",
        "Wrong fact",
        "Outdated",
        "Incomplete",
        "Misunderstood the question",
        "Unsafe",
        "Refused",
        "Format",
        "Other",
    ):
        assert label in shown
    selects = [b["element"] for b in view["blocks"] if b["type"] == "input"]
    assert [o["value"] for o in selects[1]["options"]] == [m.value for m in FailureMode]
    assert [o["value"] for o in selects[2]["options"]] == ["low", "medium", "high"]

    reply = await bot.submit(
        callback_id="quorum_correction",
        private_metadata=view["private_metadata"],
        values=_values("Paris, since 508 AD.", "outdated", "high"),
    )
    assert reply.status == 200
    await bot.settle()
    (row,) = bot.rows(CorrectionRow)
    consensus_answer = next(a for a in bot.rows(AnswerRow) if a.member == run.consensus_member)
    assert (row.run_id, row.answer_id, row.user_id) == (run.id, consensus_answer.id, "U0ALICE")
    assert (row.correct_answer, row.failure_mode, row.severity, row.source) == (
        "Paris, since 508 AD.",
        "outdated",
        "high",
        "modal",
    )
    assert "Thanks for the correction" in bot.ephemerals()[-1]["text"]
    assert intake == [
        {
            "workspace": sr.TEAM_ID,
            "run_id": run.id,
            "kind": "correction",
            "user_id": "U0ALICE",
            "correction_id": row.id,
            "answer_id": None,
            "client": intake[0]["client"],
        }
    ]


async def test_an_incomplete_modal_shows_errors_and_stores_nothing(bot: Bot) -> None:
    await ask(bot)
    (run,) = bot.rows(PanelRunRow)
    reply = await bot.submit(
        callback_id="quorum_correction",
        private_metadata=json.dumps({"run_id": run.id, "channel": bot.channel}),
        values=_values("   ", None, "medium"),
    )
    assert reply.status == 200
    body = reply.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"correct_answer", "failure_mode"}
    await bot.settle()
    assert bot.rows(CorrectionRow) == []


async def test_a_correction_thread_reply_is_stored(bot: Bot, intake: list[dict[str, Any]]) -> None:
    result = await ask(bot)
    (run,) = bot.rows(PanelRunRow)
    await bot.event(
        sr.message(
            "Correction: it is Paris &amp; always was",
            channel=bot.channel,
            channel_type="channel",
            thread_ts=result.ts,
            user="U0BOB",
        )
    )
    await bot.event(  # chatter in the thread is not a correction
        sr.message("nice", channel=bot.channel, channel_type="channel", thread_ts=result.ts)
    )
    await bot.settle()
    (row,) = bot.rows(CorrectionRow)
    assert (row.run_id, row.user_id, row.source) == (run.id, "U0BOB", "thread")
    assert row.correct_answer == "it is Paris & always was"
    assert row.failure_mode == "other" and row.severity == "medium"
    note = bot.ephemerals()[-1]
    assert note["user"] == "U0BOB" and note["thread_ts"] == result.ts
    assert [c["kind"] for c in intake] == ["correction"]


async def test_correction_replies_elsewhere_are_ignored(bot: Bot) -> None:
    await ask(bot)
    other = bot.slack.add_message(bot.channel, "a human thread", user="U0BOB")
    await bot.event(
        sr.message("correction: no", channel=bot.channel, channel_type="channel", thread_ts=other)
    )
    await bot.settle()
    assert bot.rows(CorrectionRow) == []
    assert bot.ephemerals() == []


@pytest.mark.parametrize("text", ["", "help", "  HELP "])
async def test_help_and_empty_compare_give_usage_privately(bot: Bot, text: str) -> None:
    reply = await bot.command(text)
    body = reply.json()
    assert body["response_type"] == "ephemeral"
    assert "/compare <question>" in block_text(body["blocks"])
    assert "/compare models" in body["text"]
    await bot.settle()
    assert bot.models.calls() == 0
    assert bot.slack.calls_to("chat.postMessage") == []


async def test_compare_models_lists_the_panel_with_recent_numbers(bot: Bot) -> None:
    await ask(bot)
    await bot.command("models")
    await bot.settle()
    (listing,) = [p for p in bot.slack.response_url_posts("cmd") if p.get("text") == "The panel"]
    assert listing["response_type"] == "ephemeral"
    shown = block_text(listing["blocks"])
    for name in ("alpha", "beta", "gamma"):
        assert f"*{name}* `openai/{name}`" in shown
    assert "median" in shown and "1 answers" in shown


async def test_mention_help_is_ephemeral_in_the_channel(bot: Bot) -> None:
    await bot.event(sr.app_mention("<@UQUORUMBOT> help"))
    await bot.settle()
    (note,) = bot.ephemerals()
    assert "/compare <question>" in block_text(note["blocks"])
    assert bot.models.calls() == 0


async def test_a_correction_in_a_dm_thread_is_a_correction_not_a_question(bot: Bot) -> None:
    for name in ("alpha", "beta", "gamma"):
        bot.models.script(name, "Paris.")
    await bot.event(sr.message("capital of France?", channel="D0ALICE"))
    await bot.settle()
    (result,) = [m for m in bot.slack.messages("D0ALICE") if m.thread_ts is None]
    calls = bot.models.calls()
    await bot.event(sr.message("correction: Paris, France", channel="D0ALICE", thread_ts=result.ts))
    await bot.settle()
    assert bot.models.calls() == calls
    (row,) = bot.rows(CorrectionRow)
    assert row.correct_answer == "Paris, France" and row.source == "thread"
