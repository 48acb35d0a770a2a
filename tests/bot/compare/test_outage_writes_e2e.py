"""Writes around a database outage are never lost (issue 10, item 3): a best-answer vote
while the database is down, 👍 on a run that still waits in the spool, and 👎 that
arrives before its run is spooled all count once the database is back, after their run;
the person is told honestly that it is saved and will count shortly."""

from __future__ import annotations

import json

from bot.compare.run_spool import default_spool
from storage.tables.panel_runs import AnswerRow, PanelRunRow, SignalRow, VoteRow
from tests.bot.conftest import Bot, ask
from tests.fakes import slack_requests as sr

SAVED = "saved and will count shortly"


def _rejected(bot: Bot) -> str:
    path = default_spool(bot.services).rejected_path
    return path.read_text() if path.exists() else ""


async def test_a_best_answer_vote_while_the_database_is_down_counts_later(bot: Bot) -> None:
    result = await ask(bot)
    (run,) = bot.rows(PanelRunRow)
    beta = next(m for m in bot.slack.thread(bot.channel, result.ts) if "beta" in str(m.blocks))
    value = json.dumps({"run": run.id, "member": "beta"})

    bot.db.down = True
    reply = await bot.action(
        action_id="quorum_best_answer", value=value, message_ts=beta.ts, thread_ts=result.ts
    )
    await bot.settle()
    assert reply.status == 200
    note = bot.ephemerals()[-1]["text"]
    assert SAVED in note and "beta" in note and "can't find" not in note
    assert default_spool(bot.services).pending() == 1

    bot.db.down = False
    report = default_spool(bot.services).replay(bot.db)
    assert (report.applied, report.rejected, report.remaining) == (1, 0, 0)
    (vote,) = bot.rows(VoteRow)
    voted = next(a for a in bot.rows(AnswerRow) if a.id == vote.answer_id)
    assert (vote.run_id, voted.member, vote.user_id) == (run.id, "beta", "U0ALICE")


async def test_thumbs_on_a_run_still_in_the_spool_are_spooled_behind_it(bot: Bot) -> None:
    for name in ("alpha", "beta", "gamma"):
        bot.models.script(name, "Paris is the capital of France.")
    bot.db.down = True
    await bot.command("Capital of France?")
    await bot.settle()
    (result,) = bot.results()
    spool = default_spool(bot.services)
    assert spool.pending() == 1  # the run

    # The database is back, but the run has not been replayed yet.
    bot.db.down = False
    await bot.event(sr.reaction("+1", item_ts=result.ts, user="U0BOB"))
    await bot.action(action_id="quorum_up", value="by-message", message_ts=result.ts)
    reply_ts = bot.slack.thread(bot.channel, result.ts)[0].ts
    await bot.event(sr.reaction("-1", item_ts=reply_ts, user="U0CAROL"))
    await bot.settle()
    assert SAVED in bot.ephemerals()[-1]["text"]

    spool.replay(bot.db)
    assert spool.pending() == 0 and _rejected(bot) == ""
    (run,) = bot.rows(PanelRunRow)
    answer = next(a for a in bot.rows(AnswerRow) if a.message_ts == reply_ts)
    assert sorted((s.user_id, s.kind, s.source, s.answer_id) for s in bot.rows(SignalRow)) == [
        ("U0ALICE", "up", "button", None),
        ("U0BOB", "up", "reaction", None),
        ("U0CAROL", "down", "reaction", answer.id),
    ]
    assert all(s.run_id == run.id for s in bot.rows(SignalRow))


async def test_a_thumbs_down_before_its_run_is_spooled_is_applied_after_the_run(
    bot: Bot,
) -> None:
    for name in ("alpha", "beta", "gamma"):
        bot.models.script(name, "Paris is the capital of France.", latency=0.5)
    bot.db.down = True
    await bot.command("Capital of France?")
    # React on the message while the panel is still answering: the 👎 reaches the spool
    # before the run does.
    assert await bot.slack.async_wait_for(lambda s: bool(s.calls_to("chat.postMessage")))
    message_ts = bot.slack.messages(bot.channel)[0].ts
    await bot.event(sr.reaction("-1", item_ts=message_ts, user="U0BOB"))
    await bot.settle()
    spool = default_spool(bot.services)
    lines = [json.loads(line)["kind"] for line in spool.path.read_text().splitlines()]
    assert lines == ["message_signal", "panel_run"]

    bot.db.down = False
    report = spool.replay(bot.db)
    assert (report.applied, report.rejected, report.remaining) == (2, 0, 0)
    assert _rejected(bot) == ""
    (run,) = bot.rows(PanelRunRow)
    (signal,) = bot.rows(SignalRow)
    assert (signal.run_id, signal.user_id, signal.kind) == (run.id, "U0BOB", "down")
