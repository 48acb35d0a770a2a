"""The App Home tab end to end (issue 23, item 3): opening it publishes the latest
verdict per model, the person's recent questions, when the next benchmark and digest
run and, for reviewers, the review queue whose buttons work from there."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from bot.messages import app_home
from evals.cases.schema import CaseStatus
from storage.tables.cases import CaseRow
from storage.tables.panel_runs import PanelRunRow
from tests.bot.conftest import SECRET, Bot, action_ids, ask, block_text
from tests.bot.digest_seed import seed_eval_run
from tests.bot.messages.test_blocks import MANIFEST
from tests.fakes import slack_requests as sr

ALICE, BOB = "U0ALICE", "U0BOB"
SETUP = {
    "slack": {"reviewers": [ALICE]},
    "schedule": {"benchmark": "0 6 * * mon", "digest": "0 9 * * mon", "timezone": "UTC"},
}


async def _seeded(bot_factory: Any) -> Bot:
    """Alice asked one question, gave it 👍; Bob flagged it (a proposed case); alpha,
    beta and gamma were benchmarked yesterday."""
    bot: Bot = await bot_factory(**SETUP)
    result = await ask(bot, "What is the capital of France?")
    await bot.event(sr.reaction("+1", item_ts=result.ts))
    (run,) = bot.rows(PanelRunRow)
    await bot.action(action_id="quorum_flag", value=str(run.id), user_id=BOB)
    await bot.settle()
    yesterday = bot.services.clock.now() - timedelta(days=1)
    seed_eval_run(bot.db, yesterday, {"alpha": 16, "beta": 18, "gamma": 10})
    bot.slack.reset()
    return bot


def _published(bot: Bot, user: str) -> list[dict[str, Any]]:
    return [
        c.body["view"] for c in bot.slack.calls_to("views.publish") if c.body["user_id"] == user
    ]


def _model_section(view: dict[str, Any], model: str) -> str:
    texts = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    return next(t for t in texts if t.startswith(f"*{model}*"))


def test_the_manifest_enables_the_home_tab_and_its_event() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]


async def test_settle_waits_for_a_listener_slow_to_make_its_first_slack_call(
    bot_factory: Any,
) -> None:
    """Bolt runs the listener after acknowledging, in a task of its own: ``settle`` waits
    for it even when the database keeps it quiet longer than settle's quiet window."""
    bot = await _seeded(bot_factory)
    bot.db.lag_s = 0.4
    try:
        assert (await bot.event(sr.app_home_opened(ALICE))).status == 200
        await bot.settle()
        assert len(_published(bot, ALICE)) == 1
    finally:
        bot.db.lag_s = 0.0


async def test_opening_the_home_tab_shows_models_questions_schedule_and_review_queue(
    bot_factory: Any,
) -> None:
    bot = await _seeded(bot_factory)
    reply = await bot.event(sr.app_home_opened(ALICE))
    assert reply.status == 200
    await bot.settle()

    (view,) = _published(bot, ALICE)
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    text = block_text(view["blocks"])
    # the latest verdict per model: eval pass rate with its interval, 👍 rate, cost
    alpha = _model_section(view, "alpha")
    assert re.search(r"eval \*80%\* pass \(58%–92%, 20 samples, <!date\^\d+\^\{date_short\}", alpha)
    gamma = _model_section(view, "gamma")
    assert "eval *50%* pass (30%–70%, 20 samples" in gamma
    assert "👍 *100%* of 1 vote" in text  # Alice's 👍 on the result (alpha's answer)
    assert "1 answer" in alpha
    # her recent question, linked to its message
    (run,) = bot.rows(PanelRunRow)
    link = f"https://slack.com/archives/{bot.channel}/p{(run.message_ts or '').replace('.', '')}"
    assert f"<{link}|What is the capital of France?>" in text
    assert f"{run.confidence:.0%} likely right" in text
    # what is coming up, in the reader's own time zone
    assert re.search(r"\*Next benchmark\*: <!date\^\d+\^\{date_long_pretty\} at \{time\}\|", text)
    assert re.search(r"\*Next digest\*: <!date\^\d+\^", text)
    # the review queue, with the same buttons as /compare cases
    assert "Proposed eval cases (1)" in text
    assert action_ids(view["blocks"]) == [
        "quorum_home_ask",
        "cases_approve_rotating",
        "cases_approve_golden",
        "cases_edit",
        "cases_reject",
    ]


async def test_the_home_tab_is_not_republished_within_a_few_seconds(bot_factory: Any) -> None:
    bot = await _seeded(bot_factory)
    for _ in range(3):
        await bot.event(sr.app_home_opened(ALICE))
    await bot.event(sr.app_home_opened(BOB))
    await bot.settle()
    assert len(_published(bot, ALICE)) == 1 and len(_published(bot, BOB)) == 1


async def test_the_messages_tab_publishes_nothing(bot_factory: Any) -> None:
    bot = await _seeded(bot_factory)
    await bot.event(sr.app_home_opened(ALICE, tab="messages"))
    await bot.settle()
    assert bot.slack.calls_to("views.publish") == []


async def test_someone_who_is_not_a_reviewer_sees_no_review_buttons(bot_factory: Any) -> None:
    bot = await _seeded(bot_factory)
    await bot.event(sr.app_home_opened(BOB))
    await bot.settle()
    (view,) = _published(bot, BOB)
    text = block_text(view["blocks"])
    assert action_ids(view["blocks"]) == ["quorum_home_ask"]
    assert "1 proposed eval case(s) wait for the reviewers." in text
    assert "None yet. Ask one with `/compare <question>`." in text  # Bob asked nothing
    assert "*alpha*" in text


async def test_approving_a_case_on_the_home_tab_redraws_it_at_once(bot_factory: Any) -> None:
    bot = await _seeded(bot_factory)
    await bot.event(sr.app_home_opened(ALICE))
    await bot.settle()
    (view,) = _published(bot, ALICE)
    (case,) = bot.rows(CaseRow)
    approve = next(
        b
        for b in view["blocks"]
        if b["type"] == "actions" and "cases_approve_golden" in action_ids([b])
    )
    payload = sr.home_action_payload(
        action_id="cases_approve_golden", value=case.id, block_id=approve["block_id"]
    )
    reply = await bot.send(sr.interactive(SECRET, payload))
    assert reply.status == 200
    await bot.settle()

    (case,) = bot.rows(CaseRow)
    assert case.status == CaseStatus.ACTIVE.value and case.case_set == "golden"
    _first, redrawn = _published(bot, ALICE)  # republished at once, despite the limit
    text = block_text(redrawn["blocks"])
    assert f"✅ Approved `{case.id}` into *golden*" in text
    assert "Proposed eval cases (0)" in text and "Nothing to review" in text
    assert bot.slack.calls_to("chat.postMessage") == []  # nothing posted anywhere


async def test_a_non_reviewer_pressing_a_review_button_on_home_is_told_privately(
    bot_factory: Any,
) -> None:
    bot = await _seeded(bot_factory)
    (case,) = bot.rows(CaseRow)
    payload = sr.home_action_payload(action_id="cases_reject", value=case.id, user_id=BOB)
    await bot.send(sr.interactive(SECRET, payload))
    await bot.settle()
    (dm,) = bot.slack.calls_to("chat.postMessage")
    assert dm.body["channel"] == BOB and "limited to the case reviewers" in dm.body["text"]
    (case,) = bot.rows(CaseRow)
    assert case.status == CaseStatus.PROPOSED.value


async def test_the_ask_button_on_home_opens_the_ask_form(bot_factory: Any) -> None:
    bot = await _seeded(bot_factory)
    payload = sr.home_action_payload(action_id="quorum_home_ask", value="ask")
    await bot.send(sr.interactive(SECRET, payload))
    await bot.settle()
    (opened,) = bot.slack.calls_to("views.open")
    assert opened.body["view"]["callback_id"] == "quorum_ask_submit"


def test_the_home_view_stays_within_100_blocks_however_much_there_is() -> None:
    models = [
        app_home.ModelVerdict(model=f"model-{i}", eval_passed=5, eval_n=10) for i in range(60)
    ]
    review = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"case {i}"}} for i in range(70)
    ]
    data = app_home.HomeData(
        user_id=ALICE,
        models=models,
        window_days=30,
        questions=[],
        next_jobs=[app_home.NextJob("Next digest", datetime(2026, 12, 7, 9, tzinfo=UTC))],
        review=review,
        review_total=70,
    )
    blocks = app_home.home_blocks(data)
    assert len(blocks) == 100
    text = block_text(blocks)
    assert "… and 30 more: `/compare models` lists them all." in text
    assert text.endswith("More in `/compare cases`.")
    assert app_home.home_view(data)["type"] == "home"
