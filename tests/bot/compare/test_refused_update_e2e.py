"""A refused Slack update never loses the run (issue 10, item 4): when ``chat.update``
fails (the message is too long, Slack calls the blocks invalid, or it keeps answering
5xx) the run is stored anyway, the message falls back to a shorter result and the full
answers go in the thread; no message Quorum posts exceeds what Slack accepts."""

from __future__ import annotations

import pytest

from storage.tables.panel_runs import AnswerRow, PanelRunRow
from tests.bot.conftest import Bot, action_ids, block_text
from tests.fakes.slack_api import block_chars

#: A safe cap below the ~13,000 characters Slack has been seen refusing.
MESSAGE_CAP = 12_000


def _long_answer(name: str, chars: int = 17_000) -> str:
    sentence = "Paris has been the capital of France for centuries, with a short break. "
    end = f" That is all from {name}."
    return (sentence * (chars // len(sentence) + 1))[: chars - len(end)] + end


def _every_message(bot: Bot) -> list[dict[str, object]]:
    bodies = bot.slack.calls_to("chat.postMessage") + bot.slack.calls_to("chat.update")
    return [c.body for c in bodies]


async def test_a_17k_character_answer_never_makes_a_message_slack_would_refuse(
    bot: Bot,
) -> None:
    answers = {name: _long_answer(name) for name in ("alpha", "beta", "gamma")}
    for name, text in answers.items():
        bot.models.script(name, text)
    bot.slack.max_block_chars = None  # accept anything, to measure what is sent
    await bot.command("Tell me everything about the capital of France.")
    await bot.settle(wait_s=60)  # three long answers to compare: slow on a busy machine
    sizes = [block_chars(body.get("blocks") or []) for body in _every_message(bot)]
    assert sizes and max(sizes) <= MESSAGE_CAP
    (result,) = bot.results()
    assert "Paris" in block_text(result.blocks)
    assert action_ids(result.blocks)[:2] == ["quorum_up", "quorum_down"]
    # Nothing of any answer is lost: the thread holds each member's whole answer.
    thread = "".join(block_text(m.blocks) for m in bot.slack.thread(bot.channel, result.ts))
    assert all(f"That is all from {name}." in thread for name in answers)
    assert len(bot.slack.thread(bot.channel, result.ts)) > 3  # long answers take 2 replies
    (run,) = bot.rows(PanelRunRow)
    assert {a.member: a.text for a in bot.rows(AnswerRow)} == answers
    assert run.message_ts == result.ts


@pytest.mark.parametrize(
    "failure",
    [
        {"error": "msg_blocks_too_long"},
        {"error": "invalid_blocks"},
        {"status": 500},
    ],
    ids=["msg_blocks_too_long", "invalid_blocks", "5xx-after-retries"],
)
async def test_a_refused_result_update_still_stores_the_run_and_shows_a_shorter_result(
    bot: Bot, failure: dict[str, object]
) -> None:
    for name in ("alpha", "beta", "gamma"):
        bot.models.script(name, "Paris is the capital of France.", latency=0.05)
    # The answers come within a second, so the only update is the result: refuse it
    # (every try: the client retries a 5xx twice).
    bot.slack.fail("chat.update", times=1 if "error" in failure else 3, **failure)  # type: ignore[arg-type]
    await bot.command("Capital of France?")
    await bot.settle()

    (run,) = bot.rows(PanelRunRow)
    assert {a.member for a in bot.rows(AnswerRow)} == {"alpha", "beta", "gamma"}
    (result,) = bot.results()
    shown = block_text(result.blocks)
    assert "Asking the panel" not in result.text and "Paris" in shown
    assert "thread" in shown
    # the short result speaks like the full one: the verdict first, then who agrees
    sections = [b for b in result.blocks if b["type"] in ("section", "context")]
    assert block_text([sections[1]]).startswith("🟢 *3 of 3 models agree · ")
    assert "likely right*" in block_text([sections[1]])
    assert "Answer from *" in shown and "Consensus answer from" not in shown
    assert action_ids(result.blocks) == [
        "quorum_up",
        "quorum_down",
        "quorum_correct",
        "quorum_flag",
    ]
    thread = bot.slack.thread(bot.channel, result.ts)
    assert len(thread) == 3 and all("Paris" in block_text(m.blocks) for m in thread)
    assert run.message_ts == result.ts
    assert not [n for n in bot.ephemerals() if "went wrong" in n.get("text", "")]
    assert not [p for p in bot.slack.response_url_posts() if "went wrong" in p.get("text", "")]
