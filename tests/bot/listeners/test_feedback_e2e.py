"""Reactions, 👍/👎/🚩 buttons and Best answer votes, end to end."""

from __future__ import annotations

import json
from typing import Any

import pytest

from storage.tables.panel_runs import AnswerRow, PanelRunRow, SignalRow, VoteRow
from tests.bot.conftest import SECRET, Bot, ask, feedback_values
from tests.fakes import slack_requests as sr


@pytest.fixture
def intake(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Records every hand-over to case intake (the cases engineer's module)."""
    calls: list[dict[str, Any]] = []

    async def record(services: Any, **kwargs: Any) -> None:
        calls.append(kwargs)

    monkeypatch.setattr("bot.compare.case_intake.propose_case_from_signal", record)
    return calls


def _active(bot: Bot) -> list[tuple[str, str, int | None]]:
    return sorted(
        (s.user_id, s.kind, s.answer_id) for s in bot.rows(SignalRow) if s.retracted_at is None
    )


async def test_reactions_record_and_retract_each_person_once(
    bot: Bot, intake: list[dict[str, Any]]
) -> None:
    result = await ask(bot)
    (run,) = bot.rows(PanelRunRow)
    for name in ("+1", "thumbsup", "+1::skin-tone-3"):
        await bot.event(sr.reaction(name, item_ts=result.ts))
    await bot.event(sr.reaction("+1", item_ts=result.ts, user="U0BOB"))
    await bot.event(sr.reaction("-1", item_ts=result.ts, user="U0BOB"))
    await bot.event(sr.reaction("triangular_flag_on_post", item_ts=result.ts, user="U0CAROL"))
    await bot.event(sr.reaction("x", item_ts=result.ts, user="U0DAN"))
    await bot.event(sr.reaction("tada", item_ts=result.ts, user="U0DAN"))  # not a signal
    await bot.settle()
    assert _active(bot) == [
        ("U0ALICE", "up", None),
        ("U0BOB", "down", None),
        ("U0BOB", "up", None),
        ("U0CAROL", "flag", None),
        ("U0DAN", "flag", None),
    ]
    assert all(s.run_id == run.id and s.source == "reaction" for s in bot.rows(SignalRow))
    assert sorted((c["kind"], c["user_id"]) for c in intake) == [
        ("down", "U0BOB"),
        ("flag", "U0CAROL"),
        ("flag", "U0DAN"),
    ]
    assert all(c["run_id"] == run.id for c in intake)

    await bot.event(sr.reaction("+1", item_ts=result.ts, removed=True))
    await bot.settle()
    assert ("U0ALICE", "up", None) not in _active(bot)
    await bot.event(sr.reaction("thumbsup", item_ts=result.ts))
    await bot.settle()
    assert ("U0ALICE", "up", None) in _active(bot)


async def test_reaction_on_a_thread_reply_counts_for_that_answer(bot: Bot) -> None:
    result = await ask(bot)
    replies = bot.slack.thread(bot.channel, result.ts)
    answers = {a.message_ts: a for a in bot.rows(AnswerRow)}
    gamma = next(a for a in answers.values() if a.member == "gamma")
    await bot.event(sr.reaction("-1", item_ts=str(gamma.message_ts)))
    await bot.event(sr.reaction("+1", item_ts=replies[0].ts, user="U0BOB"))
    await bot.settle()
    assert ("U0ALICE", "down", gamma.id) in _active(bot)
    assert ("U0BOB", "up", answers[replies[0].ts].id) in _active(bot)


async def test_reactions_on_other_messages_are_ignored(bot: Bot) -> None:
    await ask(bot)
    await bot.event(sr.reaction("-1", item_ts="1600000000.000001"))
    await bot.settle()
    assert bot.rows(SignalRow) == []


async def test_buttons_record_signals_and_thank_privately(
    bot: Bot, intake: list[dict[str, Any]]
) -> None:
    result = await ask(bot)
    (run,) = bot.rows(PanelRunRow)
    value = result.blocks[-2]["elements"][0]["value"]  # what Slack sends back
    # the 👍/👎 buttons of results posted before Slack's own feedback buttons still work
    await bot.action(action_id="quorum_up", value=value, message_ts=result.ts)
    await bot.settle()
    assert _active(bot) == [("U0ALICE", "up", None)]
    assert bot.ephemerals()[-1]["text"].startswith("Thanks, noted 👍")
    await bot.action(action_id="quorum_up", value=value, message_ts=result.ts)
    await bot.settle()
    assert "already" in bot.ephemerals()[-1]["text"]
    # 👎 replaces the same person's 👍
    await bot.action(action_id="quorum_down", value=value, message_ts=result.ts)
    await bot.action(action_id="quorum_flag", value=value, message_ts=result.ts, user_id="U0BOB")
    await bot.settle()
    assert _active(bot) == [("U0ALICE", "down", None), ("U0BOB", "flag", None)]
    assert {s.source for s in bot.rows(SignalRow)} == {"button"}
    assert sorted(c["kind"] for c in intake) == ["down", "flag"]
    assert all(c["run_id"] == run.id for c in intake)
    assert any("✏️ Correct" in e["text"] for e in bot.ephemerals())
    # a button carrying the run id (an ephemeral result) works the same way
    await bot.action(action_id="quorum_up", value=str(run.id), message_ts="0", user_id="U0EVE")
    await bot.settle()
    assert ("U0EVE", "up", None) in _active(bot)


async def test_slacks_own_feedback_buttons_keep_one_vote_each_and_the_last_click_wins(
    bot: Bot, intake: list[dict[str, Any]]
) -> None:
    result = await ask(bot)
    (run,) = bot.rows(PanelRunRow)
    up, down = feedback_values(result.blocks)

    async def click(value: str, user: str = "U0ALICE") -> None:
        payload = sr.block_action_payload(
            action_id="quorum_feedback",
            value=value,
            block_id="thumbs",
            message_ts=result.ts,
            user_id=user,
            response_url=bot.slack.response_url("fb"),
        )
        payload["actions"][0]["type"] = "feedback_buttons"  # as Slack sends it
        reply = await bot.send(sr.interactive(SECRET, payload))
        assert reply.status == 200
        await bot.settle()

    await click(up)
    assert _active(bot) == [("U0ALICE", "up", None)]
    assert bot.ephemerals()[-1]["text"].startswith("Thanks, noted 👍")
    # Slack sends no "un-click": each click is the person's current vote
    for value in (down, up, down):
        await click(value)
    assert _active(bot) == [("U0ALICE", "down", None)]
    assert {s.source for s in bot.rows(SignalRow)} == {"button"}
    await click(up, user="U0BOB")
    assert _active(bot) == [("U0ALICE", "down", None), ("U0BOB", "up", None)]
    # 👎 is handed to case intake, once per change
    assert [c["kind"] for c in intake] == ["down", "down"]
    assert all(c["run_id"] == run.id for c in intake)
    # reactions keep working next to the buttons
    await bot.event(sr.reaction("+1", item_ts=result.ts, user="U0CAROL"))
    await bot.settle()
    assert ("U0CAROL", "up", None) in _active(bot)
    # a value that is not ours gets a polite note and stores nothing
    await click("sideways:by-message", user="U0DAN")
    assert not [s for s in bot.rows(SignalRow) if s.user_id == "U0DAN"]
    assert bot.ephemerals()[-1]["text"] == "Sorry, I can't find that question anymore."


async def test_best_answer_votes_move_and_count_once(bot: Bot) -> None:
    result = await ask(bot)
    (run,) = bot.rows(PanelRunRow)
    replies = bot.slack.thread(bot.channel, result.ts)
    buttons = {
        json.loads(b["elements"][0]["value"])["member"]: b["elements"][0]["value"]
        for r in replies
        for b in r.blocks
        if b["type"] == "actions"
    }
    assert set(buttons) == {"alpha", "beta", "gamma"}
    await bot.action(action_id="quorum_best_answer", value=buttons["beta"], block_id="best")
    await bot.settle()
    assert "vote for *beta*" in bot.ephemerals()[-1]["text"]
    await bot.action(action_id="quorum_best_answer", value=buttons["alpha"], block_id="best")
    await bot.action(
        action_id="quorum_best_answer", value=buttons["alpha"], block_id="best", user_id="U0BOB"
    )
    await bot.settle()
    assert "moved from *beta* to *alpha*" in " ".join(e["text"] for e in bot.ephemerals())
    votes = bot.rows(VoteRow)
    answers = {a.id: a.member for a in bot.rows(AnswerRow)}
    assert sorted((v.user_id, answers[v.answer_id]) for v in votes) == [
        ("U0ALICE", "alpha"),
        ("U0BOB", "alpha"),
    ]
    assert all(v.run_id == run.id for v in votes)


async def test_case_intake_failure_never_reaches_the_user(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(services: Any, **kwargs: Any) -> None:
        raise RuntimeError("intake exploded")

    monkeypatch.setattr("bot.compare.case_intake.propose_case_from_signal", broken)
    result = await ask(bot)
    await bot.event(sr.reaction("-1", item_ts=result.ts))
    await bot.settle()
    assert _active(bot) == [("U0ALICE", "down", None)]
    assert all("exploded" not in json.dumps(c.body) for c in bot.slack.calls)
