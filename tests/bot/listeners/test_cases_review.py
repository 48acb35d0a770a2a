"""Production signals become eval cases, reviewed in Slack, end to end over real HTTP:
flag → a redacted proposed case → `/compare cases` → approve → active in the golden set
(with the version hash changing); edits, rejections, pagination and who may review."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from bot.compare.case_intake import propose_case_from_signal
from evals.cases.redaction import redacted
from evals.cases.schema import CaseInput, CaseSet, CaseStatus, EvalCase
from storage import case_repo
from storage.tables.cases import CaseRow
from storage.tables.panel_runs import AnswerRow, PanelRunRow
from tests.bot.conftest import Bot, action_ids, block_text
from tests.evals.cases.redaction_corpus import LEAKS
from tests.fakes import slack_requests as sr
from tests.fakes.embedder import RendezvousEmbedder
from tests.fakes.slack_requests import TEAM_ID

REVIEWER = "U0REVIEWER"
SLACK = {"slack": {"reviewers": [REVIEWER], "review_channel": "C0REVIEW"}}


def _script(bot: Bot) -> None:
    bot.models.script("alpha", "The capital of Australia is Sydney.")
    bot.models.script("beta", "Sydney is the capital of Australia.")
    bot.models.script("gamma", "Canberra is the capital of Australia.")


async def _ask(bot: Bot, question: str) -> tuple[int, str]:
    await bot.command(question)
    await bot.settle()
    result = bot.results()[-1]
    run = next(r for r in bot.rows(PanelRunRow) if r.message_ts == result.ts)
    return run.id, result.ts


def _posts(bot: Bot, name: str) -> list[dict[str, Any]]:
    return bot.slack.response_url_posts(name)


def _version(bot: Bot, case_set: CaseSet) -> str:
    with bot.db.session() as s:
        return case_repo.dataset_version(s, case_set, workspace=TEAM_ID)


async def test_flag_to_golden_end_to_end(bot_factory: Any) -> None:
    bot: Bot = await bot_factory(**SLACK)
    _script(bot)
    run_id, result_ts = await _ask(
        bot,
        "What is the capital of Australia? Reply to ana@example.com, key sk-proj-Zx9Yw8Vu7Ts6Rq5Po4Nm",
    )

    # 🚩 on the result
    await bot.action(
        action_id="quorum_flag", value=str(run_id), user_id="U0BOB", message_ts=result_ts
    )
    await bot.settle()
    (row,) = bot.rows(CaseRow)
    assert row.status == "proposed" and row.source == "production" and row.source_run_id == run_id
    assert row.question == "What is the capital of Australia? Reply to <EMAIL_1>, key <API_KEY_1>"
    assert (
        row.source_link
        == f"https://quorum-test.slack.com/archives/{bot.channel}/p{result_ts.replace('.', '')}"
    )
    assert row.severity == "high" and set(row.tags) == {"flagged", "production"}
    observed = row.observed or {}
    assert {a["model"] for a in observed["answers"]} == {"alpha", "beta", "gamma"}
    assert observed["consensus_text"] and "Sydney" in observed["consensus_text"]
    # the production log keeps the original
    (run,) = bot.rows(PanelRunRow)
    assert "ana@example.com" in run.question
    # the review channel heard about it
    (notice,) = [m for m in bot.slack.messages("C0REVIEW")]
    assert (
        "A new eval case was proposed" in block_text(notice.blocks) and "<EMAIL_1>" in notice.text
    )
    assert "from a 🚩 on the panel's answer" in block_text(notice.blocks)  # what was pressed
    assert observed["flagged"] == [run.consensus_member]

    # a 👎 from someone else on the same run is merged and counted, not duplicated
    await bot.action(
        action_id="quorum_down", value=str(run_id), user_id="U0CAROL", message_ts=result_ts
    )
    await bot.settle()
    (row,) = bot.rows(CaseRow)
    assert row.merged_count == 1
    assert len(bot.slack.messages("C0REVIEW")) == 1

    # the reviewer lists proposed cases
    await bot.command("cases", user_id=REVIEWER, response_url=bot.slack.response_url("list"))
    await bot.settle()
    (listing,) = _posts(bot, "list")
    assert listing["response_type"] == "ephemeral"
    shown = block_text(listing["blocks"])
    assert "Proposed eval cases (1)" in shown and row.id in shown
    assert "What is the capital of Australia? Reply to &lt;EMAIL_1&gt;" in shown
    assert "flagged 2×" in shown
    assert action_ids(listing["blocks"]) == [
        "cases_approve_rotating",
        "cases_approve_golden",
        "cases_edit",
        "cases_reject",
    ]

    # approve → golden
    before = _version(bot, CaseSet.GOLDEN)
    await bot.action(
        action_id="cases_approve_golden",
        value=row.id,
        user_id=REVIEWER,
        response_url=bot.slack.response_url("approve"),
    )
    await bot.settle()
    after = _version(bot, CaseSet.GOLDEN)
    assert after != before
    (redrawn,) = _posts(bot, "approve")
    assert redrawn["replace_original"] is True
    text = block_text(redrawn["blocks"])
    assert f"Approved `{row.id}` into *golden*" in text
    assert f"now version `{after[:12]}` (was `{before[:12]}`)" in text
    assert "Proposed eval cases (0)" in text and "Nothing to review" in text
    with bot.db.session() as s:
        (active,) = case_repo.active_cases(s, CaseSet.GOLDEN, workspace=TEAM_ID)
    assert active.id == row.id and active.status is CaseStatus.ACTIVE


async def test_a_thumbs_down_on_one_models_answer_makes_a_case_showing_that_answer(
    bot_factory: Any,
) -> None:
    """The panel is right (Canberra); gamma alone says Sydney and gets the 👎 on its thread
    reply: the case shows gamma's answer as the flagged one, not the panel's."""
    bot: Bot = await bot_factory(**SLACK)
    bot.models.script("alpha", "The capital of Australia is Canberra.")
    bot.models.script("beta", "Canberra is the capital of Australia.")
    bot.models.script("gamma", "Sydney is the capital of Australia.")
    run_id, result_ts = await _ask(bot, "What is the capital of Australia?")
    gamma = next(a for a in bot.rows(AnswerRow) if a.member == "gamma")
    assert gamma.message_ts in {m.ts for m in bot.slack.thread(bot.channel, result_ts)}

    await bot.event(sr.reaction("-1", item_ts=str(gamma.message_ts), user="U0BOB"))
    await bot.settle()
    (row,) = bot.rows(CaseRow)
    (run,) = bot.rows(PanelRunRow)
    assert run.consensus_member in ("alpha", "beta")
    assert row.source_run_id == run_id and set(row.tags) == {"production", "thumbs-down"}
    observed = row.observed or {}
    assert observed["flagged"] == ["gamma"]
    (notice,) = bot.slack.messages("C0REVIEW")
    shown = block_text(notice.blocks)
    assert "from a 👎 on *gamma*'s answer" in shown
    assert "*Flagged answer (gamma):* Sydney is the capital of Australia." in shown
    assert f"*Panel said ({run.consensus_member}):* " in shown
    assert shown.index("Flagged answer (gamma)") < shown.index("Panel said")
    assert "the flagged answer" not in shown  # the panel's answer was not what was flagged

    # a 👎 on the result from someone else is the same case; it now lists both answers
    await bot.event(sr.reaction("-1", item_ts=result_ts, user="U0CAROL"))
    await bot.settle()
    (row,) = bot.rows(CaseRow)
    assert row.merged_count == 1
    assert (row.observed or {})["flagged"] == ["gamma", run.consensus_member]
    await bot.command("cases", user_id=REVIEWER, response_url=bot.slack.response_url("list"))
    await bot.settle()
    listing = block_text(_posts(bot, "list")[0]["blocks"])
    assert "*Flagged answer (gamma):* Sydney" in listing
    assert f"*Panel said ({run.consensus_member}) — the flagged answer:* " in listing


async def test_two_thumbs_down_at_the_same_moment_make_one_case(bot_factory: Any) -> None:
    """Two people press 👎 on one result at once: two signed requests in flight together,
    whose case intakes reach the database together (the embedder lets them go at the same
    moment). One case, counted twice, one review notice."""
    bot: Bot = await bot_factory(**SLACK)
    _script(bot)
    run_id, result_ts = await _ask(bot, "What is the capital of Australia?")
    embedder = RendezvousEmbedder(parties=2)
    bot.services.embedder = embedder
    replies = await asyncio.gather(
        *(
            bot.action(action_id="quorum_down", value="by-message", user_id=u, message_ts=result_ts)
            for u in ("U0BOB", "U0CAROL")
        )
    )
    assert [r.status for r in replies] == [200, 200]
    await bot.settle()
    assert embedder.met == 2, "the two intakes did not reach the database together"
    (row,) = bot.rows(CaseRow)
    assert row.source_run_id == run_id and row.merged_count == 1
    assert len(bot.slack.messages("C0REVIEW")) == 1
    await bot.command("cases", user_id=REVIEWER, response_url=bot.slack.response_url("list"))
    await bot.settle()
    shown = block_text(_posts(bot, "list")[0]["blocks"])
    assert "Proposed eval cases (1)" in shown and "flagged 2×" in shown


async def test_non_reviewers_are_politely_refused_everywhere(bot_factory: Any) -> None:
    bot: Bot = await bot_factory(**SLACK)
    _seed(bot, "c1")
    await bot.command("cases", user_id="U0ALICE", response_url=bot.slack.response_url("list"))
    await bot.settle()
    (refusal,) = _posts(bot, "list")
    assert refusal["response_type"] == "ephemeral"
    assert "reviewing eval cases is limited to the case reviewers" in refusal["text"]
    assert "blocks" not in refusal or "c1" not in json.dumps(refusal.get("blocks"))
    for action in ("cases_approve_golden", "cases_approve_rotating", "cases_reject", "cases_edit"):
        await bot.action(
            action_id=action,
            value="c1",
            user_id="U0ALICE",
            response_url=bot.slack.response_url(action),
        )
        await bot.settle()
        (answer,) = _posts(bot, action)
        assert (
            "limited to the case reviewers" in answer["text"]
            and answer["replace_original"] is False
        )
    assert bot.slack.calls_to("views.open") == []
    with bot.db.session() as s:
        assert case_repo.require_case(s, "c1", workspace=TEAM_ID).status is CaseStatus.PROPOSED
    # the /compare command still works for everything else
    bot.models.script("alpha", "4")
    bot.models.script("beta", "4")
    bot.models.script("gamma", "4")
    await bot.command("What is 2+2? (not a cases command)")
    await bot.settle()
    assert bot.results()


async def test_no_reviewers_configured_says_how_to_set_them(bot: Bot) -> None:
    await bot.command("cases", user_id="U0ALICE", response_url=bot.slack.response_url("list"))
    await bot.settle()
    (answer,) = _posts(bot, "list")
    assert "slack.reviewers" in answer["text"] and "Nobody can review" in answer["text"]


async def test_reviewer_group_members_may_review(bot_factory: Any) -> None:
    bot: Bot = await bot_factory(slack={"reviewer_group": "S0REVIEW"})
    _seed(bot, "c1")
    bot.slack.set_response("usergroups.users.list", {"ok": True, "users": ["U0CAROL"]})
    await bot.command("cases", user_id="U0CAROL", response_url=bot.slack.response_url("carol"))
    bot.slack.set_response("usergroups.users.list", {"ok": True, "users": ["U0CAROL"]})
    await bot.command("cases", user_id="U0DAVE", response_url=bot.slack.response_url("dave"))
    await bot.settle()
    assert "Proposed eval cases (1)" in block_text(_posts(bot, "carol")[0]["blocks"])
    assert "limited to the case reviewers" in _posts(bot, "dave")[0]["text"]
    (call, _) = bot.slack.calls_to("usergroups.users.list")
    assert call.body["usergroup"] == "S0REVIEW"


async def test_edit_modal_and_golden_edit_makes_a_new_version(bot_factory: Any) -> None:
    bot: Bot = await bot_factory(**SLACK)
    _seed(
        bot,
        "p1",
        expected="Sydney",
        tags=["geo"],
        assertions=[{"type": "regex", "value": "Canberra|ACT"}],
    )
    await bot.action(
        action_id="cases_edit",
        value="p1",
        user_id=REVIEWER,
        response_url=bot.slack.response_url("e1"),
    )
    await bot.settle()
    (opened,) = bot.slack.calls_to("views.open")
    view = opened.body["view"]
    assert view["callback_id"] == "cases_edit_submit"
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks["expected"]["element"]["initial_value"] == "Sydney"
    assert blocks["tags"]["element"]["initial_value"] == "geo"
    assert "Also checked" in block_text(view["blocks"]) and "Canberra|ACT" in block_text(
        view["blocks"]
    )
    # Category is a kind of question, typed freely: not a menu of failure modes
    assert blocks["category"]["element"]["type"] == "plain_text_input"
    assert "kind of question" in blocks["category"]["hint"]["text"]
    values = {
        "expected": {"value": {"type": "plain_text_input", "value": "Canberra"}},
        "must_include": {"value": {"type": "plain_text_input", "value": "Canberra\n"}},
        "must_not_include": {"value": {"type": "plain_text_input", "value": "Sydney"}},
        "category": {"value": {"type": "plain_text_input", "value": "geography"}},
        "severity": {"value": {"type": "static_select", "selected_option": {"value": "high"}}},
        "tags": {"value": {"type": "plain_text_input", "value": "geo, capitals"}},
    }
    reply = await bot.submit(
        callback_id="cases_edit_submit",
        values=values,
        private_metadata=view["private_metadata"],
        user_id=REVIEWER,
    )
    assert reply.status == 200 and reply.text == ""
    await bot.settle()
    with bot.db.session() as s:
        p1 = case_repo.require_case(s, "p1", workspace=TEAM_ID)
    assert p1.expected == "Canberra"
    assert [(a.type.value, a.value) for a in p1.assertions] == [
        ("regex", "Canberra|ACT"),  # not editable in the modal: kept as it was
        ("icontains", "Canberra"),
        ("not-icontains", "Sydney"),
    ]
    assert (p1.category, p1.severity.value, p1.tags) == ("geography", "high", ["capitals", "geo"])
    assert "Saved your changes to `p1`" in block_text(_posts(bot, "e1")[-1]["blocks"])

    # once golden, the same edit makes a new version and retires the old one
    with bot.db.session() as s:
        case_repo.approve_case(s, "p1", CaseSet.GOLDEN, actor=REVIEWER, workspace=TEAM_ID)
    values["expected"] = {"value": {"type": "plain_text_input", "value": "Canberra (since 1913)"}}
    meta = json.dumps({"case_id": "p1", "page": 1, "response_url": bot.slack.response_url("e2")})
    await bot.submit(
        callback_id="cases_edit_submit", values=values, private_metadata=meta, user_id=REVIEWER
    )
    await bot.settle()
    with bot.db.session() as s:
        (new,) = case_repo.active_cases(s, CaseSet.GOLDEN, workspace=TEAM_ID)
        assert case_repo.require_case(s, "p1", workspace=TEAM_ID).status is CaseStatus.RETIRED
    assert new.previous_id == "p1" and new.expected == "Canberra (since 1913)"
    assert f"made a new version `{new.id}`" in block_text(_posts(bot, "e2")[-1]["blocks"])

    # a bad edit is refused in the modal, nothing changes
    values["expected"] = {"value": {"type": "plain_text_input", "value": "x"}}
    meta = json.dumps({"case_id": "p1", "page": 1})
    reply = await bot.submit(
        callback_id="cases_edit_submit", values=values, private_metadata=meta, user_id=REVIEWER
    )
    answer = reply.json()
    assert answer["response_action"] == "errors" and "retired" in answer["errors"]["expected"]


async def test_reject_and_pagination(bot_factory: Any) -> None:
    bot: Bot = await bot_factory(**SLACK)
    for i in range(7):
        _seed(bot, f"c{i}", question=f"Question number {i}")
    await bot.command("cases", user_id=REVIEWER, response_url=bot.slack.response_url("list"))
    await bot.settle()
    first = _posts(bot, "list")[0]["blocks"]
    text = block_text(first)
    assert "Proposed eval cases (7)" in text and "Page 1 of 2" in text
    assert "cases_page_next" in action_ids(first) and "cases_page_prev" not in action_ids(first)
    await bot.action(
        action_id="cases_page_next",
        value="2",
        user_id=REVIEWER,
        response_url=bot.slack.response_url("p2"),
    )
    await bot.settle()
    second = _posts(bot, "p2")[0]["blocks"]
    assert "Page 2 of 2" in block_text(second) and action_ids(second).count("cases_reject") == 2

    await bot.action(
        action_id="cases_reject",
        value="c0",
        block_id=next(b["block_id"] for b in second if b.get("block_id", "").endswith(":c0")),
        user_id=REVIEWER,
        response_url=bot.slack.response_url("rej"),
    )
    await bot.settle()
    after_reject = block_text(_posts(bot, "rej")[0]["blocks"])
    assert "Rejected `c0`" in after_reject
    # still on page 2 (the button remembered its page); 6 left, so 1 case on page 2
    assert "Page 2 of 2" in after_reject and "Proposed eval cases (6)" in after_reject
    with bot.db.session() as s:
        assert case_repo.require_case(s, "c0", workspace=TEAM_ID).status is CaseStatus.REJECTED
    # approving a case someone already handled says so instead of failing
    await bot.action(
        action_id="cases_approve_golden",
        value="c0",
        user_id=REVIEWER,
        response_url=bot.slack.response_url("again"),
    )
    await bot.settle()
    assert "only proposed cases can be approved" in block_text(_posts(bot, "again")[0]["blocks"])


async def test_a_question_asked_in_a_thread_keeps_the_thread_as_context(bot_factory: Any) -> None:
    bot: Bot = await bot_factory(**SLACK)
    _script(bot)
    parent = bot.slack.add_message(
        bot.channel, "We're moving the office; call me at +44 20 7946 0958", user="U0ALICE"
    )
    bot.slack.add_message(
        bot.channel, "Which city is the new office in?", user="U0BOB", thread_ts=parent
    )

    await bot.event(
        sr.app_mention("<@UQUORUMBOT> What is the capital of Australia?", thread_ts=parent)
    )
    await bot.settle()
    run = bot.rows(PanelRunRow)[-1]
    assert run.thread_ts == parent
    # a correction in the result's thread gives the expected answer
    await bot.event(
        sr.message(
            "correction: Canberra",
            channel=bot.channel,
            channel_type="channel",
            thread_ts=run.message_ts or parent,
        )
    )
    await bot.settle()
    (row,) = bot.rows(CaseRow)
    context = row.input["context"]
    assert [m["content"] for m in context] == [
        "We're moving the office; call me at <PHONE_1>",
        "Which city is the new office in?",
    ]
    assert row.expected == "Canberra" and "corrected" in row.tags
    # what went wrong is a tag; the category (the kind of question) is the reviewer's call,
    # so the Edit form's Category starts empty rather than holding a failure mode
    assert row.category is None and "failure:other" in row.tags
    await bot.action(
        action_id="cases_edit",
        value=row.id,
        user_id=REVIEWER,
        response_url=bot.slack.response_url("e"),
    )
    await bot.settle()
    (opened,) = bot.slack.calls_to("views.open")
    category = next(b for b in opened.body["view"]["blocks"] if b.get("block_id") == "category")
    assert category["element"]["type"] == "plain_text_input"
    assert "initial_value" not in category["element"]


async def test_a_flagged_case_holds_exactly_what_the_panel_was_sent(bot_factory: Any) -> None:
    """The case is built from the messages stored with the run, not from the thread as it
    is at flag time: Slack's escaping undone, the mention stripped, the size cap kept, and
    later thread messages (or edits) never leak in."""
    bot: Bot = await bot_factory(**SLACK)
    _script(bot)
    parent = bot.slack.add_message(bot.channel, "Deploy notes: a &lt; b &amp;&amp; c", user="U0A")
    for i in range(12):  # more than the panel is given: the oldest fall off
        bot.slack.add_message(bot.channel, f"note {i}", user="U0BOB", thread_ts=parent)

    await bot.event(sr.app_mention("<@UQUORUMBOT> Which note matters most?", thread_ts=parent))
    await bot.settle()
    run = bot.rows(PanelRunRow)[-1]
    sent = next(r for r in bot.models.requests if r.model == "alpha")
    # the thread moves on before anyone flags the answer
    bot.slack.add_message(bot.channel, "note 99, written later", user="U0BOB", thread_ts=parent)

    await bot.action(
        action_id="quorum_flag", value=str(run.id), user_id="U0BOB", message_ts=run.message_ts
    )
    await bot.settle()
    (row,) = bot.rows(CaseRow)
    system, *context, question = sent.messages
    assert system["role"] == "system"
    assert row.input["context"] == [{"role": m["role"], "content": m["content"]} for m in context]
    assert row.input["question"] == question["content"] == "Which note matters most?"
    assert all("note 99" not in m["content"] for m in row.input["context"])
    assert "note 0" not in [m["content"] for m in row.input["context"]]  # the cap held
    assert row.observed["system_prompt"] == system["content"]
    for name in ("alpha", "beta", "gamma"):
        body = next(r for r in bot.models.requests if r.model == name).body
        assert row.observed["options"][name] == {
            "temperature": body.get("temperature"),
            "max_tokens": body.get("max_tokens"),
        }


def _seed(
    bot: Bot, case_id: str, question: str = "What is the capital of Australia?", **kw: Any
) -> None:
    case = EvalCase.model_validate({"id": case_id, "input": CaseInput(question=question), **kw})
    with bot.db.session() as s:
        case_repo.add_cases(s, [redacted(case)], actor="test", workspace=TEAM_ID)


async def test_intake_goes_on_when_slack_calls_fail(bot_factory: Any) -> None:
    bot: Bot = await bot_factory(**SLACK)
    _script(bot)
    run_id, result_ts = await _ask(bot, "What is the capital of Australia?")
    bot.slack.fail("chat.getPermalink", error="internal_error")
    bot.slack.fail("chat.postMessage", status=500, times=None)  # the review channel notice
    await bot.action(
        action_id="quorum_down", value=str(run_id), user_id="U0BOB", message_ts=result_ts
    )
    await bot.settle()
    (row,) = bot.rows(CaseRow)
    assert row.status == "proposed" and "thumbs-down" in row.tags and row.severity == "medium"
    assert (
        row.source_link == f"https://slack.com/archives/{bot.channel}/p{result_ts.replace('.', '')}"
    )


async def test_intake_for_an_unknown_run_stores_nothing(bot: Bot) -> None:
    assert (
        await propose_case_from_signal(
            bot.services, run_id=9999, kind="flag", user_id="U0BOB", workspace=TEAM_ID
        )
        is None
    )
    assert bot.rows(CaseRow) == []


async def test_database_down_gives_a_friendly_answer(bot_factory: Any) -> None:
    bot: Bot = await bot_factory(**SLACK)
    bot.db.down = True
    await bot.command("cases", user_id=REVIEWER, response_url=bot.slack.response_url("list"))
    await bot.action(
        action_id="cases_approve_golden",
        value="c1",
        user_id=REVIEWER,
        response_url=bot.slack.response_url("a"),
    )
    await bot.settle()
    for name in ("list", "a"):
        (answer,) = _posts(bot, name)
        assert "Something went wrong on our side (ref Q-" in answer["text"]
        assert "Traceback" not in answer["text"] and "sqlite" not in answer["text"]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def _stored(bot: Bot, case_id: str) -> dict[str, Any]:
    with bot.db.session() as s:
        return case_repo.require_case(s, case_id, workspace=TEAM_ID).model_dump(mode="json")


def _leaked(value: Any) -> list[str]:
    text = "\n".join(_strings(value))
    return [leak.secret for leak in LEAKS if leak.secret in text]


async def test_no_corpus_secret_reaches_a_case_the_review_notice_or_the_editor(
    bot_factory: Any,
) -> None:
    """Every corpus item, asked in Slack and echoed by the models, then typed into the
    Edit modal: the stored case, the review-channel notice, the review list and the
    editor hold none of them."""
    bot: Bot = await bot_factory(**SLACK, limits={"max_question_chars": 20000})
    texts = [leak.text for leak in LEAKS]
    half = len(texts) // 2
    bot.models.script("alpha", "\n".join(texts[:half]))
    bot.models.script("beta", "\n".join(texts[half:]))
    bot.models.script("gamma", "Canberra is the capital of Australia.")
    run_id, result_ts = await _ask(bot, "\n".join(texts))
    await bot.action(
        action_id="quorum_flag", value=str(run_id), user_id="U0BOB", message_ts=result_ts
    )
    await bot.settle()
    (row,) = bot.rows(CaseRow)
    assert _leaked([row.question, row.input, row.expected, row.observed]) == []
    assert _leaked(_stored(bot, row.id)) == [] and "<API_KEY_1>" in row.question
    (notice,) = bot.slack.messages("C0REVIEW")
    assert _leaked([notice.text, notice.blocks]) == []

    await bot.command("cases", user_id=REVIEWER, response_url=bot.slack.response_url("list"))
    await bot.settle()
    assert _leaked(_posts(bot, "list")) == []

    await bot.action(
        action_id="cases_edit",
        value=row.id,
        user_id=REVIEWER,
        response_url=bot.slack.response_url("e"),
    )
    await bot.settle()
    (opened,) = bot.slack.calls_to("views.open")
    assert _leaked(opened.body) == []
    values = {
        "expected": {"value": {"type": "plain_text_input", "value": "\n".join(texts[:half])}},
        "must_include": {"value": {"type": "plain_text_input", "value": "\n".join(texts[half:])}},
        "must_not_include": {"value": {"type": "plain_text_input", "value": texts[0]}},
        "category": {"value": {"type": "plain_text_input", "value": None}},
        "severity": {"value": {"type": "static_select", "selected_option": {"value": "high"}}},
        "tags": {"value": {"type": "plain_text_input", "value": "leaky"}},
    }
    reply = await bot.submit(
        callback_id="cases_edit_submit",
        values=values,
        private_metadata=opened.body["view"]["private_metadata"],
        user_id=REVIEWER,
    )
    assert reply.status == 200
    await bot.settle()
    edited = _stored(bot, row.id)
    assert edited["expected"] and "<SECRET_" in edited["expected"]
    assert _leaked(edited) == [] and "leaky" in edited["tags"]
    assert _leaked(_posts(bot, "e")) == []


async def test_a_slow_slack_still_gets_the_review_notice_and_the_permalink(
    bot_factory: Any,
) -> None:
    """Intake runs after the person was answered, so a Slack that takes 1.5 s (a busy
    workspace, a retried rate limit) delays the notice; it never drops it."""
    bot: Bot = await bot_factory(**SLACK)
    _script(bot)
    run_id, result_ts = await _ask(bot, "What is the capital of Australia?")
    bot.slack.fail("chat.getPermalink", delay=1.5)
    bot.slack.fail("chat.postMessage", delay=1.5)
    await bot.action(
        action_id="quorum_flag", value=str(run_id), user_id="U0BOB", message_ts=result_ts
    )
    await bot.settle()
    (row,) = bot.rows(CaseRow)
    assert row.source_link == (
        f"https://quorum-test.slack.com/archives/{bot.channel}/p{result_ts.replace('.', '')}"
    )
    (notice,) = bot.slack.messages("C0REVIEW")
    assert "A new eval case was proposed" in block_text(notice.blocks)
