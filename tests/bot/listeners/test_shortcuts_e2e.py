""" "Ask the panel" shortcuts end to end (issue 23, item 4): on a message (the message and
its thread become the question, the answer comes where the shortcut was used, as
/compare posts it) and global (a modal with the question and where to answer)."""

from __future__ import annotations

import json
from typing import Any

import yaml

from storage.tables.panel_runs import PanelRunRow
from tests.bot.conftest import SECRET, Bot, action_ids, block_text
from tests.bot.messages.test_blocks import MANIFEST
from tests.fakes import slack_requests as sr

MESSAGE = "quorum_ask_message"
GLOBAL = "quorum_ask_global"


def _script(bot: Bot) -> None:
    bot.models.script("alpha", "The capital of France is **Paris**.", latency=0.02)
    bot.models.script("beta", "Paris is the capital of France.", latency=0.02)
    bot.models.script("gamma", "Paris.", latency=0.02)


async def _shortcut(bot: Bot, message: dict[str, Any], **kw: Any) -> sr.SlackReply:
    kw.setdefault("response_url", bot.slack.response_url("shortcut"))
    payload = sr.message_shortcut_payload(callback_id=MESSAGE, message=message, **kw)
    return await bot.send(sr.interactive(SECRET, payload))


def _posted(bot: Bot) -> list[Any]:
    """Top-level messages the bot posted in the channel (not the people's)."""
    return [m for m in bot.results() if m.user == bot.slack.bot_user_id]


def _asked(bot: Bot) -> list[str]:
    """What the first model was sent: the conversation, the question last."""
    return [m["content"] for m in bot.models.requests[0].messages]


def test_the_manifest_declares_both_shortcuts() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    shortcuts = {s["callback_id"]: s for s in manifest["features"]["shortcuts"]}
    assert shortcuts[MESSAGE]["type"] == "message" and shortcuts[GLOBAL]["type"] == "global"
    assert {s["name"] for s in shortcuts.values()} == {"Ask the panel"}
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


async def test_a_message_shortcut_asks_the_panel_about_that_message(bot: Bot) -> None:
    _script(bot)
    ts = bot.slack.add_message(
        bot.channel, "What is the capital of France &amp; why?", user="U0BOB"
    )
    reply = await _shortcut(
        bot, {"ts": ts, "text": "What is the capital of France &amp; why?", "user": "U0BOB"}
    )
    assert reply.status == 200 and reply.text == ""
    await bot.settle()

    # Posted as /compare posts it: a top-level message in the channel, then the result
    (result,) = _posted(bot)
    text = block_text(result.blocks)
    assert "<@U0ALICE> asked:" in text and "What is the capital of France &amp; why?" in text
    assert "3 of 3 models agree" in text and "Paris" in text
    assert action_ids(result.blocks)[-1] == "quorum_feedback"
    assert len(bot.slack.thread(bot.channel, result.ts)) == 3
    assert _asked(bot)[-1] == "What is the capital of France & why?"  # unescaped for models
    (run,) = bot.rows(PanelRunRow)
    assert run.requester == "U0ALICE" and run.channel_id == bot.channel
    assert run.message_ts == result.ts and run.thread_ts is None

    # Slack retrying the same shortcut delivery does not ask twice
    calls = bot.models.calls()
    payload = sr.message_shortcut_payload(
        callback_id=MESSAGE,
        message={"ts": ts, "text": "again", "user": "U0BOB"},
        trigger_id=run.delivery_key.split(":", 1)[1] if run.delivery_key else "",
    )
    await bot.send(sr.interactive(SECRET, payload))
    await bot.settle()
    assert bot.models.calls() == calls and len(bot.rows(PanelRunRow)) == 1


async def test_a_message_shortcut_in_a_thread_answers_there_with_the_thread_as_context(
    bot: Bot,
) -> None:
    _script(bot)
    parent = bot.slack.add_message(bot.channel, "We are planning a trip to France.", user="U0BOB")
    bot.slack.add_message(bot.channel, "Which city first?", user="U0CAROL", thread_ts=parent)
    ts = bot.slack.add_message(
        bot.channel, "Whatever the capital is, obviously.", user="U0BOB", thread_ts=parent
    )
    await _shortcut(
        bot,
        {
            "ts": ts,
            "thread_ts": parent,
            "text": "Whatever the capital is, obviously.",
            "user": "U0BOB",
        },
    )
    await bot.settle()
    posts = [c.body for c in bot.slack.calls_to("chat.postMessage")]
    assert posts and all(p.get("thread_ts") == parent for p in posts)
    asked = _asked(bot)
    assert "We are planning a trip to France." in asked and "Which city first?" in asked
    assert asked[-1] == "Whatever the capital is, obviously."
    (run,) = bot.rows(PanelRunRow)
    assert run.thread_ts == parent


async def test_a_message_with_replies_brings_its_thread_along(bot: Bot) -> None:
    _script(bot)
    ts = bot.slack.add_message(bot.channel, "Is Lyon the capital of France?", user="U0BOB")
    bot.slack.add_message(bot.channel, "I think it is Paris.", user="U0CAROL", thread_ts=ts)
    await _shortcut(
        bot,
        {"ts": ts, "thread_ts": ts, "reply_count": 1, "text": "Is Lyon the capital of France?"},
    )
    await bot.settle()
    asked = _asked(bot)
    assert asked[-1] == "Is Lyon the capital of France?" and "I think it is Paris." in asked
    (result,) = _posted(bot)  # the message itself was top level: so is the answer
    assert "Is Lyon the capital of France?" in block_text(result.blocks)


async def test_a_message_without_text_gets_a_private_note_and_asks_nobody(bot: Bot) -> None:
    ts = bot.slack.add_message(bot.channel, "", user="U0BOB")
    await _shortcut(bot, {"ts": ts, "text": "", "user": "U0BOB", "files": [{"id": "F1"}]})
    await bot.settle()
    (note,) = bot.ephemerals()
    assert note["user"] == "U0ALICE" and "no text to ask the panel about" in note["text"]
    assert bot.models.calls() == 0 and bot.rows(PanelRunRow) == []


async def test_a_message_shortcut_where_the_bot_is_not_answers_privately(bot: Bot) -> None:
    _script(bot)
    bot.slack.fail("chat.postMessage", error="not_in_channel")
    await _shortcut(bot, {"ts": "1700000000.000100", "text": "Capital of France?"})
    await bot.settle()
    posts = bot.slack.response_url_posts("shortcut")
    assert "/invite @Quorum" in posts[0]["text"] and posts[0]["response_type"] == "ephemeral"
    assert "Paris" in block_text(posts[-1]["blocks"])


async def test_the_global_shortcut_opens_the_form_and_answers_in_the_chosen_channel(
    bot: Bot,
) -> None:
    _script(bot)
    reply = await bot.send(sr.interactive(SECRET, sr.global_shortcut_payload(callback_id=GLOBAL)))
    assert reply.status == 200
    await bot.settle()
    (opened,) = bot.slack.calls_to("views.open")
    view = opened.body["view"]
    assert view["callback_id"] == "quorum_ask_submit" and view["title"]["text"] == "Ask the panel"
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks["question"]["element"]["type"] == "plain_text_input"
    assert blocks["where"]["element"]["type"] == "conversations_select"
    assert blocks["where"]["optional"] is True

    values = {
        "question": {"value": {"type": "plain_text_input", "value": " Capital of France? "}},
        "where": {"value": {"type": "conversations_select", "selected_conversation": "C0TRAVEL"}},
    }
    reply = await bot.submit(callback_id="quorum_ask_submit", values=values)
    assert reply.status == 200 and reply.text == ""  # the modal closes
    await bot.settle()
    (result,) = [m for m in bot.slack.messages("C0TRAVEL") if m.thread_ts is None]
    assert "<@U0ALICE> asked:" in block_text(result.blocks) and "Paris" in block_text(result.blocks)
    assert _asked(bot)[-1] == "Capital of France?"
    (run,) = bot.rows(PanelRunRow)
    assert run.channel_id == "C0TRAVEL" and run.requester == "U0ALICE"


async def test_the_global_shortcut_without_a_channel_answers_in_a_direct_message(
    bot: Bot,
) -> None:
    _script(bot)
    values = {
        "question": {"value": {"type": "plain_text_input", "value": "Capital of France?"}},
        "where": {"value": {"type": "conversations_select", "selected_conversation": None}},
    }
    await bot.submit(callback_id="quorum_ask_submit", values=values, user_id="U0BOB")
    await bot.settle()
    (first, *_) = bot.slack.calls_to("chat.postMessage")
    assert first.body["channel"] == "U0BOB"  # Slack opens the app's DM with them
    (result,) = [m for m in bot.slack.messages("U0BOB") if m.thread_ts is None]
    assert "Paris" in block_text(result.blocks)


async def test_an_empty_question_keeps_the_form_open_with_a_hint(bot: Bot) -> None:
    values = {
        "question": {"value": {"type": "plain_text_input", "value": "   "}},
        "where": {"value": {"type": "conversations_select", "selected_conversation": None}},
    }
    reply = await bot.submit(callback_id="quorum_ask_submit", values=values)
    assert reply.status == 200
    assert json.loads(reply.text) == {
        "response_action": "errors",
        "errors": {"question": "Please write a question."},
    }
    await bot.settle()
    assert bot.models.calls() == 0 and bot.slack.calls_to("chat.postMessage") == []


async def test_a_question_over_the_limit_is_refused_before_any_model_is_asked(
    bot_factory: Any,
) -> None:
    bot: Bot = await bot_factory(limits={"max_question_chars": 50})
    await _shortcut(bot, {"ts": "1700000000.000100", "text": "x" * 80})
    await bot.settle()
    (post,) = bot.slack.response_url_posts("shortcut")
    assert "80 characters long; the limit is 50" in post["text"]
    assert bot.models.calls() == 0
