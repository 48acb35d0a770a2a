"""Two workspaces on one Quorum: nothing of A reaches B, through any Slack surface.

One bot (token mode), one database, the fake Slack Web API; workspace A is the fake
requests' team (``T0QUORUM``), B is ``T0BRAVO``. Both use channel ``C0GENERAL``: a Slack
Connect channel has the same id in the two workspaces, so the channel alone must never
find the other workspace's run. What is asserted is what Slack shows (messages,
ephemerals, views, response_url posts), then the rows.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.messages import ask_modal, compare_result
from bot.messages import case_review as cb
from evals.cases.schema import CaseStatus
from storage import case_repo
from storage.tables.cases import CaseRow
from storage.tables.panel_runs import CorrectionRow, PanelRunRow, SignalRow, VoteRow
from tests.bot.conftest import SECRET, Bot, block_text
from tests.fakes import slack_requests as sr

A = sr.TEAM_ID
B = "T0BRAVO"
A_QUESTION = "What is the capital of France?"
B_QUESTION = "What is the capital of Spain?"
#: Words only A's conversation contains (its question and its answers).
A_WORDS = ("France", "Paris")
SLACK = {"slack": {"reviewers": ["U0ALICE", "U0BOB"]}}


def _answers(messages: list[dict[str, Any]]) -> str:
    asked = " ".join(str(m.get("content", "")) for m in messages)
    if "France" in asked:
        return "The capital of France is Paris."
    if "Spain" in asked:
        return "The capital of Spain is Madrid."
    return "I am not sure."


async def as_team(bot: Bot, team: str, request: sr.SignedRequest) -> sr.SlackReply:
    return await bot.send(request if team == A else sr.for_team(SECRET, request, team))


async def ask_in(bot: Bot, team: str, question: str, user: str) -> Any:
    for name in ("alpha", "beta", "gamma"):
        bot.models.script(name, reply=_answers, latency=0.01)
    before = {m.ts for m in bot.results()}
    request = sr.slash_command(
        SECRET,
        question,
        user_id=user,
        channel_id=bot.channel,
        response_url=bot.slack.response_url(f"ask-{team}"),
    )
    await as_team(bot, team, request)
    await bot.settle()
    (posted,) = [m for m in bot.results() if m.ts not in before]
    return posted


def _seen(bodies: list[Any]) -> str:
    """Everything in ``bodies`` (message bodies, views, response_url posts) as text."""
    return json.dumps(bodies, default=str)


def _leaks(text: str) -> list[str]:
    return [w for w in A_WORDS if w in text]


@pytest.fixture
async def two(bot_factory: Any) -> tuple[Bot, Any, Any]:
    """A bot with one question asked in A (by Alice) and one in B (by Bob), in the same
    channel id."""
    bot: Bot = await bot_factory(**SLACK)
    in_a = await ask_in(bot, A, A_QUESTION, "U0ALICE")
    in_b = await ask_in(bot, B, B_QUESTION, "U0BOB")
    return bot, in_a, in_b


async def test_each_run_belongs_to_the_workspace_it_was_asked_in(two: Any) -> None:
    bot, _, in_b = two
    owners = {r.question: r.workspace_id for r in bot.rows(PanelRunRow)}
    assert owners == {A_QUESTION: A, B_QUESTION: B}
    assert "Madrid" in block_text(in_b.blocks) and not _leaks(block_text(in_b.blocks))


async def test_b_cannot_touch_a_run_through_feedback_corrections_or_votes(two: Any) -> None:
    bot, in_a, _ = two
    (run_a,) = [r for r in bot.rows(PanelRunRow) if r.workspace_id == A]
    sent_before = len(bot.ephemerals())
    # Slack Connect: B's people see A's message in the shared channel (same channel id,
    # same ts) and react to it, or reply with a correction in its thread.
    for name in ("-1", "triangular_flag_on_post", "+1"):
        await as_team(
            bot, B, sr.event_envelope(SECRET, sr.reaction(name, item_ts=in_a.ts, user="U0BOB"))
        )
    await as_team(
        bot,
        B,
        sr.event_envelope(
            SECRET,
            sr.message(
                "correction: Lyon",
                user="U0BOB",
                channel=bot.channel,
                channel_type="channel",
                thread_ts=in_a.ts,
            ),
        ),
    )
    # Forged buttons naming A's run id, from B.
    for action_id, value in (
        (compare_result.ACTION_DOWN, str(run_a.id)),
        (compare_result.ACTION_FLAG, str(run_a.id)),
        (compare_result.ACTION_CORRECT, str(run_a.id)),
        (compare_result.ACTION_BEST, json.dumps({"run": run_a.id, "member": "alpha"})),
        (compare_result.ACTION_FEEDBACK, f"{compare_result.FEEDBACK_DOWN}:{run_a.id}"),
    ):
        await as_team(
            bot,
            B,
            sr.block_action(
                SECRET,
                action_id=action_id,
                value=value,
                user_id="U0BOB",
                channel_id=bot.channel,
                message_ts=in_a.ts,
                response_url=bot.slack.response_url("forged"),
            ),
        )
    # The native feedback button of a result posted before its run was stored finds the
    # run by its message: B's click on A's message finds nothing.
    await as_team(
        bot,
        B,
        sr.block_action(
            SECRET,
            action_id=compare_result.ACTION_FEEDBACK,
            value=f"{compare_result.FEEDBACK_DOWN}:{compare_result.PENDING_RUN}",
            user_id="U0BOB",
            channel_id=bot.channel,
            message_ts=in_a.ts,
        ),
    )
    await bot.settle()
    assert bot.rows(SignalRow) == []
    assert bot.rows(CorrectionRow) == []
    assert bot.rows(VoteRow) == []
    assert bot.rows(CaseRow) == []
    told = [e["text"] for e in bot.ephemerals()[sent_before:]]
    assert told and all("can't find" in t or "can't read" in t for t in told), told
    assert not bot.slack.calls_to("views.open"), "B opened a correction form on A's run"


async def test_a_reaction_counts_in_its_own_workspace_on_a_shared_channel(two: Any) -> None:
    bot, in_a, in_b = two
    await as_team(
        bot, B, sr.event_envelope(SECRET, sr.reaction("-1", item_ts=in_b.ts, user="U0BOB"))
    )
    await bot.event(sr.reaction("+1", item_ts=in_a.ts, user="U0ALICE"))
    await bot.settle()
    runs = {r.id: r.workspace_id for r in bot.rows(PanelRunRow)}
    signals = sorted((s.workspace_id, runs[s.run_id], s.kind) for s in bot.rows(SignalRow))
    assert signals == sorted([(A, A, "up"), (B, B, "down")])
    (case,) = bot.rows(CaseRow)  # B's 👎 proposed a case, in B
    assert case.workspace_id == B and "Spain" in case.question


async def test_review_lists_home_tabs_and_digest_previews_show_only_their_workspace(
    two: Any,
) -> None:
    bot, in_a, in_b = two
    # A case proposed in each workspace.
    await bot.event(sr.reaction("triangular_flag_on_post", item_ts=in_a.ts, user="U0ALICE"))
    await as_team(
        bot,
        B,
        sr.event_envelope(
            SECRET, sr.reaction("triangular_flag_on_post", item_ts=in_b.ts, user="U0BOB")
        ),
    )
    await bot.settle()
    assert sorted(c.workspace_id for c in bot.rows(CaseRow)) == sorted([A, B])

    # /compare cases, from B: B's case, none of A's.
    url = bot.slack.response_url("cases-b")
    await as_team(bot, B, sr.slash_command(SECRET, "cases", user_id="U0BOB", response_url=url))
    await bot.settle()
    listed = _seen(bot.slack.response_url_posts("cases-b"))
    assert "Spain" in listed and not _leaks(listed)

    # /compare digest, from B.
    url = bot.slack.response_url("digest-b")
    await as_team(bot, B, sr.slash_command(SECRET, "digest", user_id="U0BOB", response_url=url))
    await bot.settle()
    preview = _seen(bot.slack.response_url_posts("digest-b"))
    assert "Spain" in preview and not _leaks(preview)

    # App Home: Alice (a Slack Connect guest of B has one user id in both) opens B's Home.
    await as_team(bot, B, sr.event_envelope(SECRET, sr.app_home_opened("U0ALICE")))
    await as_team(bot, B, sr.event_envelope(SECRET, sr.app_home_opened("U0BOB")))
    await bot.settle()
    views = [c.body for c in bot.slack.calls_to("views.publish")]
    assert len(views) == 2
    assert not [_leaks(_seen([v])) for v in views if _leaks(_seen([v]))]
    bob_home = _seen([v for v in views if v["user_id"] == "U0BOB"])
    assert "Spain" in bob_home  # his question and B's review queue are there

    # A's Home has A's question: the scoping did not just hide everything.
    await bot.event(sr.app_home_opened("U0ALICE"))
    await bot.settle()
    a_home = _seen([bot.slack.calls_to("views.publish")[-1].body])
    assert "France" in a_home and "Spain" not in a_home


async def test_a_reviewer_in_b_cannot_approve_a_case_of_a(two: Any) -> None:
    bot, in_a, _ = two
    await bot.event(sr.reaction("triangular_flag_on_post", item_ts=in_a.ts, user="U0ALICE"))
    await bot.settle()
    (case,) = bot.rows(CaseRow)
    url = bot.slack.response_url("approve-b")
    for action_id in (cb.ACTION_APPROVE_GOLDEN, cb.ACTION_REJECT, cb.ACTION_EDIT):
        await as_team(
            bot,
            B,
            sr.block_action(
                SECRET, action_id=action_id, value=case.id, user_id="U0BOB", response_url=url
            ),
        )
    await bot.settle()
    with bot.db.session() as s:
        assert case_repo.require_case(s, case.id, workspace=A).status is CaseStatus.PROPOSED
    assert not _leaks(_seen(bot.slack.response_url_posts("approve-b")))
    assert not bot.slack.calls_to("views.open")


async def test_each_workspace_sends_its_review_notices_to_its_own_channel(
    bot_factory: Any,
) -> None:
    bot: Bot = await bot_factory(**SLACK)
    for team, channel, user in ((A, "C0AREVIEW", "U0ALICE"), (B, "C0BREVIEW", "U0BOB")):
        reply = await as_team(
            bot, team, sr.slash_command(SECRET, "review here", user_id=user, channel_id=channel)
        )
        assert channel in reply.text
    in_a = await ask_in(bot, A, A_QUESTION, "U0ALICE")
    in_b = await ask_in(bot, B, B_QUESTION, "U0BOB")
    await bot.event(sr.reaction("-1", item_ts=in_a.ts, user="U0ALICE"))
    await as_team(
        bot, B, sr.event_envelope(SECRET, sr.reaction("-1", item_ts=in_b.ts, user="U0BOB"))
    )
    await bot.settle()
    a_notices = _seen([m.as_json() for m in bot.slack.messages("C0AREVIEW")])
    b_notices = _seen([m.as_json() for m in bot.slack.messages("C0BREVIEW")])
    assert "France" in a_notices and "Spain" not in a_notices
    assert "Spain" in b_notices and not _leaks(b_notices)


async def test_a_non_reviewer_cannot_move_the_digest(bot_factory: Any) -> None:
    bot: Bot = await bot_factory(**SLACK)
    reply = await as_team(
        bot, B, sr.slash_command(SECRET, "digest here", user_id="U0MALLORY", channel_id="C0X")
    )
    assert "limited to the case reviewers" in reply.text


async def test_shortcuts_in_b_make_runs_of_b(bot_factory: Any) -> None:
    bot: Bot = await bot_factory(**SLACK)
    for name in ("alpha", "beta", "gamma"):
        bot.models.script(name, reply=_answers, latency=0.01)
    ts = bot.slack.add_message(bot.channel, B_QUESTION, user="U0BOB")
    payload = sr.message_shortcut_payload(
        callback_id=ask_modal.MESSAGE_SHORTCUT,
        message={"ts": ts, "text": B_QUESTION, "user": "U0BOB"},
        user_id="U0BOB",
        response_url=bot.slack.response_url("shortcut"),
    )
    await as_team(bot, B, sr.interactive(SECRET, payload))
    values = {
        ask_modal.QUESTION_BLOCK: {
            ask_modal.INPUT: {"type": "plain_text_input", "value": "Capital of Spain?"}
        },
        ask_modal.WHERE_BLOCK: {
            ask_modal.INPUT: {"type": "conversations_select", "selected_conversation": None}
        },
    }
    submit = sr.view_submission(
        SECRET, callback_id=ask_modal.ASK_CALLBACK, values=values, user_id="U0BOB"
    )
    await as_team(bot, B, submit)
    await bot.settle()
    owners = sorted((r.question, r.workspace_id) for r in bot.rows(PanelRunRow))
    assert owners == [("Capital of Spain?", B), (B_QUESTION, B)]


# -- Enterprise Grid -------------------------------------------------------------------

GRID = "E0GRID"


async def grid(bot: Bot, team: str | None, request: sr.SignedRequest) -> sr.SlackReply:
    return await bot.send(sr.for_team(SECRET, request, team, enterprise=GRID))


async def test_two_workspaces_of_one_grid_org_stay_separate(bot_factory: Any) -> None:
    bot: Bot = await bot_factory(**SLACK)
    for name in ("alpha", "beta", "gamma"):
        bot.models.script(name, reply=_answers, latency=0.01)
    url = bot.slack.response_url("grid")
    await grid(bot, "T0GRIDA", sr.slash_command(SECRET, A_QUESTION, response_url=url))
    await bot.settle()
    (in_a,) = bot.results()
    await grid(bot, "T0GRIDB", sr.event_envelope(SECRET, sr.reaction("-1", item_ts=in_a.ts)))
    await grid(bot, "T0GRIDB", sr.event_envelope(SECRET, sr.app_home_opened("U0ALICE")))
    await bot.settle()
    ((question, owner),) = [(r.question, r.workspace_id) for r in bot.rows(PanelRunRow)]
    assert (question, owner) == (A_QUESTION, "T0GRIDA")
    assert bot.rows(SignalRow) == []  # T0GRIDB's reaction found no run of its own
    (home,) = [c.body for c in bot.slack.calls_to("views.publish")]
    assert not _leaks(_seen([home]))
    await grid(bot, "T0GRIDA", sr.event_envelope(SECRET, sr.reaction("-1", item_ts=in_a.ts)))
    await bot.settle()
    ((signal_owner, kind),) = [(s.workspace_id, s.kind) for s in bot.rows(SignalRow)]
    assert (signal_owner, kind) == ("T0GRIDA", "down")


async def test_an_org_level_request_without_a_team_is_the_org_s(bot_factory: Any) -> None:
    """An org-wide install's request that names no team (Slack leaves ``team`` null) is
    scoped to the org: its Home shows the org's questions, no team's."""
    bot: Bot = await bot_factory(**SLACK)
    for name in ("alpha", "beta", "gamma"):
        bot.models.script(name, reply=_answers, latency=0.01)
    await grid(bot, "T0GRIDA", sr.slash_command(SECRET, A_QUESTION))
    values = {
        ask_modal.QUESTION_BLOCK: {
            ask_modal.INPUT: {"type": "plain_text_input", "value": B_QUESTION}
        },
        ask_modal.WHERE_BLOCK: {
            ask_modal.INPUT: {"type": "conversations_select", "selected_conversation": None}
        },
    }
    submit = sr.view_submission(SECRET, callback_id=ask_modal.ASK_CALLBACK, values=values)
    await grid(bot, None, submit)  # asked from the org level: no team
    await bot.settle()
    owners = sorted((r.workspace_id, r.question) for r in bot.rows(PanelRunRow))
    assert owners == [(GRID, B_QUESTION), ("T0GRIDA", A_QUESTION)]
    await grid(bot, None, sr.event_envelope(SECRET, sr.app_home_opened("U0ALICE")))
    await bot.settle()
    home = _seen([bot.slack.calls_to("views.publish")[-1].body])
    assert "Spain" in home and not _leaks(home)
