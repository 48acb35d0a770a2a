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
    assert action_ids(result.blocks)[-1] == "quorum_feedback"
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
        "quorum_correct",
        "quorum_flag",
        "quorum_feedback",
    ]
    thread = bot.slack.thread(bot.channel, result.ts)
    assert len(thread) == 3 and all("Paris" in block_text(m.blocks) for m in thread)
    assert run.message_ts == result.ts
    assert not [n for n in bot.ephemerals() if "went wrong" in n.get("text", "")]
    assert not [p for p in bot.slack.response_url_posts() if "went wrong" in p.get("text", "")]


@pytest.mark.parametrize("upload_works", [True, False], ids=["uploaded", "upload-refused"])
async def test_an_answer_too_long_for_the_thread_says_it_was_cut_and_where_the_rest_is(
    bot: Bot, upload_works: bool
) -> None:
    """The probe's 155,000-character answer: the thread shows what it can, its last part
    says the answer was cut and where the whole of it is (a file in the thread, or,
    when Slack refuses the file, the stored run)."""
    huge = _long_answer("alpha", 155_000)
    bot.models.script("alpha", huge)
    bot.models.script("beta", "Paris is the capital of France.")
    bot.models.script("gamma", "Paris is the capital of France.")
    if not upload_works:
        bot.slack.fail("files.getUploadURLExternal", error="not_allowed_token_type")
    await bot.command("Tell me everything about the capital of France.")
    await bot.settle(wait_s=60)

    (result,) = bot.results()
    thread = bot.slack.thread(bot.channel, result.ts)
    heads = ("*alpha* · ", "*alpha* (continued")
    alpha = [m for m in thread if m.blocks and block_text(m.blocks[:1]).startswith(heads)]
    assert 2 <= len(alpha) <= 5  # MAX_PARTS
    last = block_text(alpha[-1].blocks)
    assert "✂️ _Cut here: alpha's answer is 155,000 characters" in last
    assert "`alpha-answer.md` below" in last
    # every part is one Slack accepts, and each shows a real piece of the answer
    assert all(block_chars(m.blocks) <= MESSAGE_CAP for m in alpha)
    shown = sum(block_chars(m.blocks) for m in alpha)
    assert shown > 30_000
    (run,) = bot.rows(PanelRunRow)
    assert {a.member: a.text for a in bot.rows(AnswerRow)}["alpha"] == huge
    files = [f for m in thread for f in m.files]
    if upload_works:
        (file,) = files
        assert file["name"] == "alpha-answer.md"
        assert file["title"] == "alpha's whole answer (155,000 characters)"
        assert bot.slack.file_text(file["id"]) == huge
        # the file comes right after the answer's last part
        assert thread.index(alpha[-1]) + 1 == next(i for i, m in enumerate(thread) if m.files)
    else:
        assert files == []
        notes = [m for m in thread if "would not take the file" in m.text]
        (note,) = notes
        assert f"kept in full with run #{run.id}" in block_text(note.blocks)
    # the other members' short answers are there as usual
    assert sum(1 for m in thread if "Paris is the capital of France." in block_text(m.blocks)) == 2


async def test_when_slack_refuses_every_update_the_asker_is_told_privately_where_the_answers_are(
    bot: Bot,
) -> None:
    for name in ("alpha", "beta", "gamma"):
        bot.models.script(name, "Paris is the capital of France.", latency=0.05)
    bot.slack.fail("chat.update", error="cant_update_message", times=None)
    await bot.command("Capital of France?")
    await bot.settle()

    (run,) = bot.rows(PanelRunRow)
    (message,) = bot.results()
    assert "Asking the panel" in message.text  # Slack never let it change
    thread = bot.slack.thread(bot.channel, message.ts)
    moved, *members = thread
    assert "3 of 3 models agree" in block_text(moved.blocks) and "Paris" in moved.text
    assert len(members) == 3 and all("Paris" in block_text(m.blocks) for m in members)
    (note,) = [n for n in bot.ephemerals() if "would not update" in n["text"]]
    assert note["channel"] == bot.channel and note["user"] == "U0ALICE"
    link = f"https://quorum-test.slack.com/archives/{bot.channel}/p{moved.ts.replace('.', '')}"
    assert note["text"] == (
        "Slack would not update the message with your answer, so the panel's result and "
        f"each model's full answer are <{link}|in the thread>."
    )
    assert run.message_ts == message.ts


async def test_a_short_result_in_place_needs_no_private_note(bot: Bot) -> None:
    for name in ("alpha", "beta", "gamma"):
        bot.models.script(name, "Paris is the capital of France.", latency=0.05)
    bot.slack.fail("chat.update", error="msg_blocks_too_long")
    await bot.command("Capital of France?")
    await bot.settle()
    (result,) = bot.results()
    assert "3 of 3 models agree" in block_text(result.blocks)
    assert [n for n in bot.ephemerals() if "would not update" in n["text"]] == []
