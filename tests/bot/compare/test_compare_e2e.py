"""/compare, @mentions and DMs end to end: signed HTTP in, fake Slack and models out."""

from __future__ import annotations

import itertools
import json
import logging
import re

import pytest

from storage.tables.panel_runs import AnswerRow, DeliveryRow, PanelRunRow
from tests.bot.conftest import Bot, action_ids, block_text, feedback_values
from tests.fakes import slack_requests as sr
from tests.fakes.openai_server import Failure


def _script_agreeing(bot: Bot, latency: float = 0.05) -> None:
    bot.models.script("alpha", "The capital of France is **Paris**.", latency=latency)
    bot.models.script("beta", "The capital of France is **Paris**.", latency=latency)
    bot.models.script("gamma", "The capital of France is **Paris**, on the Seine.", latency=latency)


async def test_compare_posts_progress_then_the_result_with_thread_replies(bot: Bot) -> None:
    _script_agreeing(bot)
    reply = await bot.command("What is the capital of France?")
    assert reply.status == 200
    assert reply.text == ""  # a bare ack: the visible message comes from chat.postMessage
    await bot.settle()

    (result,) = bot.results()
    first_post = bot.slack.calls_to("chat.postMessage")[0].body
    assert first_post["channel"] == bot.channel
    progress = block_text(first_post["blocks"])
    assert "<@U0ALICE> asked" in progress and "What is the capital of France?" in progress
    assert "⏳ alpha" in progress and "⏳ beta" in progress and "⏳ gamma" in progress

    text = block_text(result.blocks)
    assert "Paris" in text
    assert "*Paris*" in text  # Markdown bold became mrkdwn bold
    # the verdict first, right under the question, above the answer
    verdict = result.blocks[1]["text"]["text"]
    assert re.fullmatch(r"[🟢🟡🔴] \*3 of 3 models agree · \d\d?% likely right\*", verdict), verdict
    assert text.index(verdict) < text.index("*Paris*")
    assert "Answer from *alpha*, agreed by *beta*, *gamma*" in text
    assert "Models: alpha, beta, gamma" in text and "total" in text
    assert action_ids(result.blocks) == [
        "quorum_correct",
        "quorum_flag",
        "quorum_feedback",
    ]

    replies = bot.slack.thread(bot.channel, result.ts)
    assert len(replies) == 3
    for member, reply_msg in zip(("alpha", "beta", "gamma"), replies, strict=True):
        shown = block_text(reply_msg.blocks)
        assert f"*{member}*" in shown and " s" in shown and "agreement" in shown
        assert action_ids(reply_msg.blocks) == ["quorum_best_answer"]

    (run,) = bot.rows(PanelRunRow)
    assert run.origin == "slack" and run.requester == "U0ALICE"
    assert run.channel_id == bot.channel and run.message_ts == result.ts
    answers = bot.rows(AnswerRow)
    assert {a.member for a in answers} == {"alpha", "beta", "gamma"}
    assert {a.message_ts for a in answers} == {r.ts for r in replies}
    # the result is shown before the run is stored: its buttons find the run by message
    assert {e["value"] for e in result.blocks[-2]["elements"]} == {"by-message"}
    assert feedback_values(result.blocks) == ("up:by-message", "down:by-message")
    best = json.loads(replies[0].blocks[-1]["elements"][0]["value"])
    assert best == {"run": run.id, "member": "alpha"}


async def test_updates_are_throttled_to_one_per_second(bot: Bot) -> None:
    bot.models.script("alpha", "Paris.", latency=0.05)
    bot.models.script("beta", "Paris.", latency=0.15)
    bot.models.script("gamma", "Paris.", latency=1.6)
    await bot.command("Capital of France?")
    await bot.settle()
    (result,) = bot.results()
    updates = [c for c in bot.slack.calls_to("chat.update") if c.body["ts"] == result.ts]
    post = bot.slack.calls_to("chat.postMessage")[0]
    times = [post.at] + [u.at for u in updates]
    # progress updates are ≥ 1 s apart (the last update is the final result)
    progress = times[:-1]
    assert all(b - a >= 0.95 for a, b in itertools.pairwise(progress))
    assert len(updates) == 2  # one progress update (alpha+beta), then the result
    assert "✅ alpha" in block_text(updates[0].body["blocks"])
    assert "⏳ gamma" in block_text(updates[0].body["blocks"])


async def test_model_output_is_escaped_and_can_never_ping_or_link(bot: Bot) -> None:
    evil = (
        "Sure! <!channel> <!here> <@U123> see <http://evil.example|click here> & [docs](http://x.y)"
    )
    for name in ("alpha", "beta", "gamma"):
        bot.models.script(name, evil)
    await bot.command("say something")
    await bot.settle()
    (result,) = bot.results()
    everything = json.dumps(result.blocks) + json.dumps(
        [m.blocks for m in bot.slack.thread(bot.channel, result.ts)]
    )
    for raw in ("<!channel>", "<!here>", "<@U123>", "<http://evil"):
        assert raw not in everything
    text = block_text(result.blocks)
    assert "&lt;!channel&gt;" in text and "&lt;@U123&gt;" in text
    assert "&lt;http://evil.example|click here&gt;" in text
    assert "docs (http://x.y)" in text and "&amp;" in text
    # the fallback notification text is escaped too
    assert "<!channel>" not in result.text


async def test_all_models_fail_says_so_per_model_and_stores_the_run(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="evals.models.provider_calls")
    bot.models.fail("alpha", Failure.auth())
    bot.models.fail("beta", Failure.bad_request())
    bot.models.fail("gamma", Failure.server_error(), Failure.server_error(), Failure.server_error())
    await bot.command("Anything?")
    await bot.settle()
    (result,) = bot.results()
    text = block_text(result.blocks)
    assert "⚪ *No answer* — none of the 3 models could answer" in text
    # each provider's own reason, and a reference that matches the log line
    assert "alpha* rejected our credentials (check its API key): Incorrect API key" in text
    assert "beta* refused the request: Invalid request" in text
    assert "gamma* had a provider error: The server had an error" in text
    assert "Traceback" not in text and "Exception" not in text
    refs = re.findall(r"ref `(Q-[0-9A-F]{8})`", text)
    assert len(refs) == 3
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for member, ref in zip(("alpha", "beta", "gamma"), refs, strict=True):
        assert f"Panel member {member} (openai/{member}) failed [{ref}]" in logged
    # nothing to rate: no 👍 👎 ✏️ 🚩, and one thread reply instead of one per model
    assert action_ids(result.blocks) == []
    (reply,) = bot.slack.thread(bot.channel, result.ts)
    assert "Why no model answered" in block_text(reply.blocks)
    assert all(ref in block_text(reply.blocks) for ref in refs)
    (run,) = bot.rows(PanelRunRow)
    assert run.status == "none"
    assert {a.error_kind for a in bot.rows(AnswerRow)} == {"auth", "bad_request", "provider_error"}


async def test_some_fail_consensus_from_the_rest_with_failures_shown(bot: Bot) -> None:
    bot.models.script("alpha", "Paris.")
    bot.models.script("beta", "Paris it is.")
    bot.models.fail("gamma", Failure.auth())
    await bot.command("Capital of France?")
    await bot.settle()
    (result,) = bot.results()
    text = block_text(result.blocks)
    assert "Paris" in text
    assert "gamma* rejected our credentials" in text
    assert "2 of 3 models agree" in text or "disagree" in text  # the failed model counts
    assert "1 failed" in text
    (run,) = bot.rows(PanelRunRow)
    assert run.status == "ok"


async def test_slack_retry_of_an_event_never_starts_a_second_panel(bot: Bot) -> None:
    _script_agreeing(bot)
    request = sr.event_envelope(
        "8f742231b10e8888abcd99yyyzzz85a5",
        sr.app_mention("<@UQUORUMBOT> What is the capital of France?"),
        event_id="Ev0RETRY1",
    )
    first = await bot.send(request)
    again = await bot.send(request.retried(1))
    third = await bot.send(request.retried(2, "timeout"))
    assert (first.status, again.status, third.status) == (200, 200, 200)
    await bot.settle()
    assert len(bot.results()) == 1
    assert bot.models.calls("alpha") == 1
    assert len(bot.rows(PanelRunRow)) == 1
    assert [d.key for d in bot.rows(DeliveryRow)] == ["event:Ev0RETRY1"]


async def test_mention_in_a_thread_answers_there_with_the_thread_as_context(bot: Bot) -> None:
    _script_agreeing(bot)
    parent = bot.slack.add_message(bot.channel, "We are planning a trip to France.", user="U0BOB")
    mention_ts = bot.slack.add_message(
        bot.channel, "<@UQUORUMBOT> what is its capital?", user="U0ALICE", thread_ts=parent
    )
    await bot.event(
        sr.app_mention("<@UQUORUMBOT> what is its capital?", ts=mention_ts, thread_ts=parent)
    )
    await bot.settle()
    posts = [c.body for c in bot.slack.calls_to("chat.postMessage")]
    assert all(p.get("thread_ts") == parent for p in posts)
    request = bot.models.requests[0]
    contents = [m["content"] for m in request.messages]
    assert "We are planning a trip to France." in contents
    assert contents[-1] == "what is its capital?"


async def test_direct_message_is_answered_in_the_dm(bot: Bot) -> None:
    _script_agreeing(bot)
    await bot.event(sr.message("capital of France?", channel="D0ALICE"))
    await bot.settle()
    (result,) = [m for m in bot.slack.messages("D0ALICE") if m.thread_ts is None]
    assert "Paris" in block_text(result.blocks)
    assert len(bot.slack.thread("D0ALICE", result.ts)) == 3


async def test_bot_not_in_channel_answers_privately_through_the_response_url(bot: Bot) -> None:
    _script_agreeing(bot)
    bot.slack.fail("chat.postMessage", error="not_in_channel")
    await bot.command("Capital of France?")
    await bot.settle()
    posts = bot.slack.response_url_posts("cmd")
    assert "/invite @Quorum" in posts[0]["text"] and posts[0]["response_type"] == "ephemeral"
    final = posts[-1]
    assert final["replace_original"] is True and final["response_type"] == "ephemeral"
    assert "Paris" in block_text(final["blocks"])
    assert len(posts) == 2  # the notice and the result: a response_url allows only 5 uses
    assert len(bot.rows(PanelRunRow)) == 1


async def test_bot_not_in_channel_for_a_mention_without_response_url_uses_a_dm(bot: Bot) -> None:
    _script_agreeing(bot)
    bot.slack.fail("chat.postMessage", error="channel_not_found")
    bot.slack.fail("chat.postEphemeral", error="not_in_channel")
    await bot.event(sr.app_mention("<@UQUORUMBOT> Capital of France?"))
    await bot.settle()
    dm = [m for m in bot.slack.messages("U0ALICE") if m.thread_ts is None]
    assert len(dm) == 1 and "Paris" in block_text(dm[0].blocks)


async def test_slack_rate_limits_are_retried(bot: Bot) -> None:
    _script_agreeing(bot)
    bot.slack.fail("chat.postMessage", status=429, retry_after=0)
    await bot.command("Capital of France?")
    await bot.settle()
    assert len(bot.results()) == 1
    assert "Paris" in block_text(bot.results()[0].blocks)


async def test_an_unexpected_failure_is_friendly_with_a_reference(bot: Bot) -> None:
    _script_agreeing(bot)
    bot.slack.fail("chat.postMessage", error="invalid_auth", times=None)
    await bot.command("Capital of France?")
    await bot.settle()
    (note,) = bot.slack.response_url_posts("cmd")
    assert "Sorry, something went wrong" in note["text"] and "Q-" in note["text"]
    assert "Traceback" not in note["text"] and "invalid_auth" not in note["text"]
    assert bot.models.calls() == 0  # nothing could be shown, so no model was asked


async def test_slack_server_errors_are_retried(bot: Bot) -> None:
    _script_agreeing(bot)
    bot.slack.fail("chat.update", status=500, times=1)
    await bot.command("Capital of France?")
    await bot.settle()
    (result,) = bot.results()
    assert "Paris" in block_text(result.blocks)


async def test_shadow_candidates_are_asked_and_stored_but_never_shown(bot_factory) -> None:  # type: ignore[no-untyped-def]
    bot: Bot = await bot_factory(shadow=("delta",))
    _script_agreeing(bot)
    bot.models.script("delta", "Shadow says Paris too.")
    await bot.command("Capital of France?")
    await bot.settle()
    (result,) = bot.results()
    shown = json.dumps(result.blocks) + json.dumps(
        [m.blocks for m in bot.slack.thread(bot.channel, result.ts)]
    )
    assert "delta" not in shown and "Shadow says" not in shown
    roles = {(a.member, a.role) for a in bot.rows(AnswerRow)}
    assert ("delta", "shadow") in roles and ("alpha", "panel") in roles
    delta = next(a for a in bot.rows(AnswerRow) if a.member == "delta")
    assert delta.text == "Shadow says Paris too." and delta.agreement is not None
