"""Forged and stale requests, question size, per-user rate limit, daily budget."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from evals.records import Consensus, ConsensusStatus, ModelAnswer, PanelRun
from storage import repo
from storage.records import RunOrigin
from storage.tables.panel_runs import DeliveryRow, PanelRunRow, SignalRow
from tests.bot.conftest import SECRET, Bot
from tests.fakes import slack_requests as sr
from tests.fakes.slack_requests import TEAM_ID


async def test_forged_signature_is_rejected_and_changes_nothing(bot: Bot) -> None:
    forged = sr.slash_command("not-the-secret", "What is 2+2?")
    reply = await bot.send(forged)
    assert reply.status == 401
    tampered = sr.slash_command(SECRET, "What is 2+2?")
    tampered = sr.SignedRequest(tampered.body.replace("2%2B2", "3%2B3"), tampered.headers)
    assert (await bot.send(tampered)).status == 401
    unsigned = sr.SignedRequest(forged.body, {"Content-Type": forged.headers["Content-Type"]})
    assert (await bot.send(unsigned)).status == 401
    forged_reaction = sr.event_envelope("nope", sr.reaction("-1", item_ts="1700000000.000001"))
    assert (await bot.send(forged_reaction)).status == 401
    await bot.settle()
    assert bot.slack.calls == []
    assert bot.models.calls() == 0
    assert bot.rows(PanelRunRow) == [] and bot.rows(DeliveryRow) == []
    assert bot.rows(SignalRow) == []


async def test_stale_timestamp_is_rejected(bot: Bot) -> None:
    stale = sr.slash_command(SECRET, "What is 2+2?", timestamp=int(time.time()) - 60 * 10)
    reply = await bot.send(stale)
    assert reply.status == 401
    await bot.settle()
    assert bot.slack.calls == [] and bot.models.calls() == 0


async def test_too_long_question_gets_a_clear_ephemeral_and_no_model_call(bot: Bot) -> None:
    reply = await bot.command("x" * 4001)
    assert reply.status == 200
    await bot.settle()
    (note,) = bot.slack.response_url_posts("cmd")
    assert note["response_type"] == "ephemeral"
    assert "4,001 characters" in note["text"] and "4,000" in note["text"]
    assert bot.models.calls() == 0
    assert bot.slack.calls_to("chat.postMessage") == []


async def test_question_size_limit_is_configurable(bot_factory) -> None:  # type: ignore[no-untyped-def]
    bot: Bot = await bot_factory(limits={"max_question_chars": 20})
    await bot.command("a question that is longer than twenty characters")
    await bot.settle()
    assert "the limit is 20" in bot.slack.response_url_posts("cmd")[0]["text"]
    assert bot.models.calls() == 0


async def test_a_user_over_the_rate_limit_is_told_and_no_model_is_called(bot_factory) -> None:  # type: ignore[no-untyped-def]
    bot: Bot = await bot_factory(limits={"per_user_requests": 2, "per_user_window_minutes": 10})
    for name in ("alpha", "beta", "gamma"):
        bot.models.script(name, "Paris.")
    for _ in range(2):
        await bot.command("Capital of France?")
    await bot.settle()
    assert bot.models.calls() == 6
    await bot.command("Capital of France?")
    await bot.settle()
    assert bot.models.calls() == 6
    note = bot.slack.response_url_posts("cmd")[-1]
    assert note["response_type"] == "ephemeral"
    assert "2 questions in the last 10 minutes" in note["text"]
    # another person is not affected
    await bot.command("Capital of France?", user_id="U0BOB")
    await bot.settle()
    assert bot.models.calls() == 9


def _costly_run(cost: float) -> tuple[PanelRun, Consensus]:
    now = datetime.now(UTC)
    run = PanelRun(
        question="earlier",
        answers=(ModelAnswer(member="alpha", model="openai/alpha", text="x", cost_usd=cost),),
        started_at=now,
        finished_at=now,
    )
    consensus = Consensus(
        status=ConsensusStatus.SINGLE,
        model="alpha",
        text="x",
        confidence=0.3,
        raw_confidence=0.3,
        clusters=(("alpha",),),
        agreement={"alpha": 1.0},
        dissenters=(),
        features={},
        calibrator="test",
    )
    return run, consensus


async def test_over_the_daily_budget_no_model_is_called(bot_factory) -> None:  # type: ignore[no-untyped-def]
    bot: Bot = await bot_factory(limits={"daily_budget_usd": 1.0})
    run, consensus = _costly_run(1.25)
    with bot.db.session() as session:
        repo.save_panel_run(
            session,
            run,
            consensus,
            origin=RunOrigin.CLI,
            requester="U0X",
            config_hash="h",
            workspace=TEAM_ID,
        )
    await bot.command("Capital of France?")
    await bot.settle()
    assert bot.models.calls() == 0
    (note,) = bot.slack.response_url_posts("cmd")
    assert note["response_type"] == "ephemeral"
    assert "budget" in note["text"] and "$1.00" in note["text"]
    assert bot.slack.calls_to("chat.postMessage") == []
