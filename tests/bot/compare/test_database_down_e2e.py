"""The database briefly unreachable: the user still gets the answer; nothing is dropped."""

from __future__ import annotations

import logging

import pytest

from bot.compare.run_spool import default_spool
from storage.tables.panel_runs import AnswerRow, CorrectionRow, PanelRunRow, SignalRow
from tests.bot.conftest import Bot, action_ids, block_text
from tests.fakes import slack_requests as sr


async def test_answer_is_delivered_and_writes_are_spooled_then_replayed(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("alpha", "beta", "gamma"):
        bot.models.script(name, "Paris is the capital of France.")
    bot.db.down = True
    with caplog.at_level(logging.WARNING):
        await bot.command("Capital of France?")
        await bot.settle()
    (result,) = bot.results()
    assert "Paris" in block_text(result.blocks)
    assert action_ids(result.blocks) == [
        "quorum_correct",
        "quorum_flag",
        "quorum_feedback",
    ]
    assert len(bot.slack.thread(bot.channel, result.ts)) == 3
    assert "Q-" not in block_text(result.blocks)
    failures = [r.getMessage() for r in caplog.records if "saving a run" in r.getMessage()]
    assert failures and "[Q-" in failures[0]

    # feedback while the database is still down is spooled too
    await bot.event(sr.reaction("-1", item_ts=result.ts, user="U0BOB"))
    await bot.action(action_id="quorum_up", value="by-message", message_ts=result.ts)
    await bot.event(
        sr.message(
            "correction: Paris.", channel=bot.channel, channel_type="channel", thread_ts=result.ts
        )
    )
    await bot.settle()
    assert "saved and will count shortly" in bot.ephemerals()[0]["text"]
    spool = default_spool(bot.services)
    assert spool.pending() == 4

    bot.db.down = False
    assert bot.rows(PanelRunRow) == []
    report = spool.replay(bot.db)
    assert (report.applied, report.rejected, report.remaining) == (4, 0, 0)
    (run,) = bot.rows(PanelRunRow)
    assert run.message_ts == result.ts and run.channel_id == bot.channel
    sent = next(r for r in bot.models.requests if r.model == "alpha")
    assert run.prompt["messages"] == sent.messages  # what the panel saw survives the spool
    replies = {m.ts for m in bot.slack.thread(bot.channel, result.ts)}
    assert {a.message_ts for a in bot.rows(AnswerRow)} == replies
    assert sorted((s.user_id, s.kind, s.source) for s in bot.rows(SignalRow)) == [
        ("U0ALICE", "up", "button"),
        ("U0BOB", "down", "reaction"),
    ]
    (correction,) = bot.rows(CorrectionRow)
    assert correction.run_id == run.id and correction.source == "thread"


async def test_a_retry_while_the_database_is_down_still_runs_once(bot: Bot) -> None:
    for name in ("alpha", "beta", "gamma"):
        bot.models.script(name, "Paris.")
    bot.db.down = True
    request = sr.event_envelope(
        "8f742231b10e8888abcd99yyyzzz85a5", sr.app_mention("<@UQUORUMBOT> capital?")
    )
    await bot.send(request)
    await bot.send(request.retried(1))
    await bot.settle()
    assert len(bot.results()) == 1
    assert bot.models.calls("alpha") == 1


async def test_healthz_reports_the_database(bot: Bot) -> None:
    async with bot.http.get(bot.server.health_url) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["ok"] is True and body["database"] == "ok"
    assert body["models"] == ["alpha", "beta", "gamma"]
    bot.db.down = True
    async with bot.http.get(bot.server.health_url) as resp:
        assert resp.status == 503
        assert (await resp.json())["database"] == "unreachable"


async def test_healthz_passes_while_the_embedder_loads(bot: Bot) -> None:
    """A platform's health check must not fail a cold start for the ~10 s the embedding
    model takes to load; a /compare that arrives meanwhile waits for it."""

    class StillLoading:
        loaded = False

    embedder = bot.services.embedder
    bot.services.embedder = StillLoading()  # type: ignore[assignment]
    try:
        async with bot.http.get(bot.server.health_url) as resp:
            assert resp.status == 200
            body = await resp.json()
    finally:
        bot.services.embedder = embedder
    assert body["ok"] is True and body["embedder"] == "loading"
