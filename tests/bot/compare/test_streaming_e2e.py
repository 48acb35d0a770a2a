"""Each model's full answer streams into the thread through Slack's chat streaming
(``chat.startStream`` / ``appendStream`` / ``stopStream``) where the workspace has it,
and is posted as today where it does not (issue 23, item 5)."""

from __future__ import annotations

import json

from storage.tables.panel_runs import AnswerRow, PanelRunRow
from tests.bot.conftest import Bot, action_ids, block_text

ANSWERS = {
    "alpha": "The capital of France is **Paris**.",
    "beta": "Paris is the capital of France.",
    "gamma": "Paris, on the Seine.",
}


def _script(bot: Bot) -> None:
    for name, text in ANSWERS.items():
        bot.models.script(name, text, latency=0.02)


async def test_answers_stream_into_the_thread_where_slack_streams(bot: Bot) -> None:
    bot.slack.streaming = True
    _script(bot)
    await bot.command("What is the capital of France?")
    await bot.settle()

    (result,) = bot.results()
    thread = bot.slack.thread(bot.channel, result.ts)
    assert [m.stream for m in thread] == ["stopped"] * 3
    (run,) = bot.rows(PanelRunRow)
    for name, message in zip(ANSWERS, thread, strict=True):
        # the same facts as a posted reply, in Markdown, then the whole answer
        assert message.text.startswith(f"**{name}** · ")
        assert message.text.endswith(ANSWERS[name])
        assert action_ids(message.blocks) == ["quorum_best_answer"]
        value = json.loads(message.blocks[0]["elements"][0]["value"])
        assert value == {"run": run.id, "member": name}
    assert sum("the answer shown above" in m.text for m in thread) == 1
    starts = bot.slack.calls_to("chat.startStream")
    assert len(starts) == 3
    assert all(
        s.body["thread_ts"] == result.ts
        and s.body["recipient_user_id"] == "U0ALICE"
        and s.body["recipient_team_id"] == "T0QUORUM"
        for s in starts
    )
    assert len(bot.slack.calls_to("chat.stopStream")) == 3
    # no reply was posted besides: the result is the only chat.postMessage
    assert len(bot.slack.calls_to("chat.postMessage")) == 1
    # feedback on an answer finds it by its streamed message
    assert {a.message_ts for a in bot.rows(AnswerRow)} == {m.ts for m in thread}


async def test_a_long_answer_streams_in_pieces(bot: Bot) -> None:
    bot.slack.streaming = True
    long = " ".join(f"Sentence {i} about Paris." for i in range(400))  # about 9,000 chars
    bot.models.script("alpha", long)
    bot.models.script("beta", "Paris.")
    bot.models.script("gamma", "Paris.")
    await bot.command("Tell me about Paris.")
    await bot.settle()
    (result,) = bot.results()
    alpha = bot.slack.thread(bot.channel, result.ts)[0]
    assert alpha.text.endswith(long) and alpha.updates >= 4
    appends = [c for c in bot.slack.calls_to("chat.appendStream") if c.body["ts"] == alpha.ts]
    assert all(len(c.body["markdown_text"]) <= 2_000 for c in appends)


async def test_without_chat_streaming_the_answers_are_posted_and_slack_is_not_asked_again(
    bot: Bot,
) -> None:
    _script(bot)  # the fake workspace has no chat streaming (feature_not_enabled)
    await bot.command("What is the capital of France?")
    await bot.settle()
    (result,) = bot.results()
    thread = bot.slack.thread(bot.channel, result.ts)
    assert len(thread) == 3 and all(m.stream is None for m in thread)
    assert all("Paris" in block_text(m.blocks) for m in thread)
    assert len(bot.slack.calls_to("chat.startStream")) == 1  # asked once, then not again

    _script(bot)
    await bot.command("And of Italy?")
    await bot.settle()
    assert len(bot.slack.calls_to("chat.startStream")) == 1
    assert len(bot.results()) == 2


async def test_a_stream_that_breaks_halfway_still_gets_the_answer_into_the_thread(
    bot: Bot,
) -> None:
    bot.slack.streaming = True
    _script(bot)
    bot.slack.fail("chat.stopStream", error="internal_error")  # the first answer's stop
    await bot.command("What is the capital of France?")
    await bot.settle()
    (result,) = bot.results()
    thread = bot.slack.thread(bot.channel, result.ts)
    posted = [m for m in thread if m.stream is None]
    (alpha,) = posted  # alpha's answer, posted the usual way after its stream failed
    assert "*alpha*" in block_text(alpha.blocks) and "Paris" in block_text(alpha.blocks)
    assert [m.stream for m in thread if m.stream] == ["streaming", "stopped", "stopped"]
