"""Issue 23's acceptance test: two workspaces installed through the real OAuth flow
(a browser on ``/slack/install``, the fake Slack's approval page, ``oauth.v2.access``,
stored installations), each using every Slack surface Quorum has, each receiving its
digest from the scheduler's job path with its own token; then nothing of one reaches
the other (Slack calls, command replies, CLI exports, digests), and uninstalling one
leaves the other's rows byte-for-byte as they were.

A is ``T0AAA`` (Alice asks in ``C0ALPHA``), B is ``T0BBB`` (Bob asks in ``C0BRAVO``).
Every question and answer of A carries ``ALPHA-SECRET`` (and "Paris"), every one of B
``BRAVO-SECRET`` (and "Madrid"): those words, and each workspace's case ids, are what
must never cross. What B sees is every Slack Web API call made with B's token, every
post to a response URL of B's requests, and every reply the bot gave B's requests.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner, Result

import bot.cli.digest  # noqa: F401  (registers `quorum digest`)
from bot.cli import app as cli
from bot.messages import ask_modal, compare_result
from bot.messages import case_review as cb
from bot.messages.correction_modal import CORRECTION_CALLBACK
from bot.schedule import jobs
from bot.slack.oauth import NOT_INSTALLED, REDIRECT_PATH
from evals.cases.schema import CaseStatus
from storage.tables.cases import CaseRow
from storage.tables.eval_runs import EvalRunRow
from storage.tables.jobs import JobStatus
from storage.tables.panel_runs import CorrectionRow, PanelRunRow, SignalRow, VoteRow
from storage.tables.workspaces import WorkspaceRow
from storage.workspace_repo import WORKSPACE_TABLES
from tests.bot.conftest import PANEL, SECRET, Bot, feedback_values, panel_config
from tests.bot.slack.oauth_flow import base, install, oauth_env, uninstalled
from tests.fakes import slack_requests as sr
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.slack_api import FakeSlackAPI

A, B = "T0AAA", "T0BBB"


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    secret: str  # in every question, so in every answer, case and digest line
    answer: str  # what the panel answers this workspace
    person: str  # asks, reacts and reviews
    other_person: str  # a colleague who reacts and clicks too
    channel: str  # where questions are asked
    digest_channel: str

    @property
    def bot_user(self) -> str:
        return f"UBOT{self.id}"  # the fake Slack's bot user for the workspace


TEAMS = {
    A: Team(A, "Alpha", "ALPHA-SECRET", "Paris", "U0ALICE", "U0ALAN", "C0ALPHA", "C0ADIGEST"),
    B: Team(B, "Beta", "BRAVO-SECRET", "Madrid", "U0BOB", "U0BERT", "C0BRAVO", "C0BDIGEST"),
}
SECTIONS = {"slack": {"reviewers": ["U0ALICE", "U0BOB"]}}
WORKSPACES = WorkspaceRow.metadata.tables[WorkspaceRow.__tablename__]


def _answers(messages: list[dict[str, Any]]) -> str:
    """The fake panel: each workspace's question gets its own answer (and marker)."""
    asked = " ".join(str(m.get("content", "")) for m in messages)
    for team in TEAMS.values():
        if team.secret in asked:
            return f"The {team.secret} answer is {team.answer}."
    return "I am not sure."


@dataclass
class Seen:
    """What one workspace's people were shown, besides the Web API calls made with its
    token: the bot's replies to its requests and posts to its response URLs."""

    replies: list[str] = field(default_factory=list)
    response_urls: list[str] = field(default_factory=list)  # names given to the fake


class Workspaces:
    """One bot with A and B installed over OAuth, and what each was shown."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.seen = {team: Seen() for team in TEAMS}

    def url(self, team: str, name: str) -> str:
        self.seen[team].response_urls.append(f"{team}-{name}")
        return self.bot.slack.response_url(f"{team}-{name}")

    async def send(self, team: str, request: sr.SignedRequest) -> sr.SlackReply:
        """``request`` (made as from the fake requests' team) as Slack sends it from
        ``team``."""
        reply = await self.bot.send(sr.for_team(SECRET, request, team))
        assert reply.status == 200, reply.text
        self.seen[team].replies.append(reply.text)
        return reply

    async def click(self, team: str, user: str, action_id: str, value: str, **kw: Any) -> None:
        payload = sr.block_action_payload(
            action_id=action_id,
            value=value,
            user_id=user,
            channel_id=TEAMS[team].channel,
            response_url=self.url(team, f"click-{len(self.seen[team].response_urls)}"),
            **kw,
        )
        if action_id == compare_result.ACTION_FEEDBACK:
            payload["actions"][0]["type"] = "feedback_buttons"  # as Slack sends it
        await self.send(team, sr.interactive(SECRET, payload))
        await self.bot.settle()

    def new_results(self, team: str, before: set[str]) -> list[Any]:
        channel = TEAMS[team].channel
        return [
            m
            for m in self.bot.slack.messages(channel)
            if m.thread_ts is None and m.ts not in before
        ]

    def posted_ts(self, team: str) -> set[str]:
        return {m.ts for m in self.bot.slack.messages(TEAMS[team].channel)}

    # -- what each workspace was shown -------------------------------------------------

    def slack_calls(self, team: str) -> list[Any]:
        return [c for c in self.bot.slack.calls if self.bot.slack.workspace_of(c.token) == team]

    def shown(self, team: str) -> str:
        """Everything ``team``'s people were shown, as one text."""
        seen = self.seen[team]
        posts = [p for name in seen.response_urls for p in self.bot.slack.response_url_posts(name)]
        calls = [{"method": c.method, "body": c.body} for c in self.slack_calls(team)]
        return json.dumps([calls, posts, seen.replies], ensure_ascii=False, default=str)


def case_ids(bot: Bot, team: str) -> list[str]:
    with bot.db.session() as s:
        return list(s.scalars(select(CaseRow.id).where(CaseRow.workspace_id == team)))


def leaks(bot: Bot, text: str, of: str) -> list[str]:
    """What of workspace ``of`` (its markers, its case ids) ``text`` contains."""
    team = TEAMS[of]
    found = [w for w in (team.secret, team.answer) if w in text]
    return found + [case_id for case_id in case_ids(bot, of) if case_id in text]


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def installed(
    bot_factory: Callable[..., Any],
    fake_slack: FakeSlackAPI,
    browser: aiohttp.ClientSession,
    **env: Any,
) -> Workspaces:
    """A bot with A and B installed through the OAuth flow, as a person clicks it."""
    for team in TEAMS.values():
        fake_slack.add_workspace(team.id, team.name)
    made: Bot = await bot_factory(env=oauth_env(fake_slack, **env), **SECTIONS)
    fake_slack.redirect_url = f"{base(made)}{REDIRECT_PATH}"
    for team in TEAMS.values():
        done = await install(made, browser, team.id)
        assert done.status == 200 and f"“{team.name}”" in done.text, done.text
    for name in ("alpha", "beta", "gamma"):
        made.models.script(name, reply=_answers, latency=0.01)
    return Workspaces(made)


async def ask(ws: Workspaces, team: str, question: str) -> Any:
    """``/compare question`` from ``team``; the result it posted."""
    t = TEAMS[team]
    before = ws.posted_ts(team)
    request = sr.slash_command(
        SECRET,
        question,
        user_id=t.person,
        channel_id=t.channel,
        response_url=ws.url(team, f"ask-{len(before)}"),
    )
    await ws.send(team, request)
    await ws.bot.settle()
    (result,) = ws.new_results(team, before)
    return result


async def use_everything(ws: Workspaces, team: str) -> None:
    """Every Slack surface, as ``team``'s people use it."""
    bot, t = ws.bot, TEAMS[team]

    # the digest goes to a channel of the workspace's choosing
    here = sr.slash_command(SECRET, "digest here", user_id=t.person, channel_id=t.digest_channel)
    assert t.digest_channel in (await ws.send(team, here)).text

    # /compare and an @mention
    first = await ask(ws, team, f"{t.secret} what is the capital, asked by command?")
    before = ws.posted_ts(team)
    mention = sr.app_mention(
        f"<@{t.bot_user}> {t.secret} name one river crossing that city, briefly",
        user=t.person,
        channel=t.channel,
    )
    await ws.send(team, sr.event_envelope(SECRET, mention))
    await bot.settle()
    (second,) = ws.new_results(team, before)
    for result in (first, second):
        assert t.answer in json.dumps(result.as_json()), result.as_json()

    # 👍 and 👎 reactions, Slack's own feedback buttons, a best-answer vote
    for emoji, user in (("+1", t.person), ("-1", t.other_person)):
        reaction = sr.reaction(emoji, item_ts=first.ts, user=user, channel=t.channel)
        await ws.send(team, sr.event_envelope(SECRET, reaction))
    await bot.settle()
    up, _ = feedback_values(first.blocks)
    await ws.click(team, t.other_person, compare_result.ACTION_FEEDBACK, up, message_ts=first.ts)
    (best,) = [
        el["value"]
        for reply in bot.slack.thread(t.channel, first.ts)
        for b in reply.blocks
        if b.get("type") == "actions"
        for el in b["elements"]
        if el["action_id"] == compare_result.ACTION_BEST and '"member": "beta"' in el["value"]
    ]
    await ws.click(team, t.person, compare_result.ACTION_BEST, best, block_id="best")

    # a correction through the Correct button's form
    (correct,) = [
        el["value"]
        for b in first.blocks
        if b.get("type") == "actions"
        for el in b["elements"]
        if el["action_id"] == compare_result.ACTION_CORRECT
    ]
    trigger = sr.uid("TRIG")
    await ws.click(
        team,
        t.person,
        compare_result.ACTION_CORRECT,
        correct,
        message_ts=first.ts,
        trigger_id=trigger,
    )
    (opened,) = [c for c in ws.slack_calls(team) if c.body.get("trigger_id") == trigger]
    values = {
        "correct_answer": {"value": {"type": "plain_text_input", "value": f"{t.secret} fixed"}},
        "failure_mode": {
            "value": {"type": "static_select", "selected_option": {"value": "outdated"}}
        },
        "severity": {"value": {"type": "static_select", "selected_option": {"value": "high"}}},
    }
    submit = sr.view_submission(
        SECRET,
        callback_id=CORRECTION_CALLBACK,
        private_metadata=opened.body["view"]["private_metadata"],
        values=values,
        user_id=t.person,
    )
    await ws.send(team, submit)
    await bot.settle()

    # 🚩 makes a case in review; a reviewer approves it from Slack
    flag = sr.reaction(
        "triangular_flag_on_post", item_ts=second.ts, user=t.person, channel=t.channel
    )
    await ws.send(team, sr.event_envelope(SECRET, flag))
    await bot.settle()
    listed = ws.url(team, "cases")
    await ws.send(team, sr.slash_command(SECRET, "cases", user_id=t.person, response_url=listed))
    await bot.settle()
    queue = json.dumps(bot.slack.response_url_posts(f"{team}-cases"), ensure_ascii=False)
    mine = [c for c in bot.rows(CaseRow) if c.workspace_id == team]
    assert mine and all(c.id in queue for c in mine) and t.secret in queue, queue
    # the 👎 and correction case (its expected answer the correction) is approved into
    # the golden set; the 🚩 case stays proposed (the digest lists it)
    (corrected,) = [c for c in mine if "by command" in c.question]
    assert corrected.expected == f"{t.secret} fixed", corrected.expected
    await ws.click(team, t.person, cb.ACTION_APPROVE_GOLDEN, corrected.id)
    with bot.db.session() as s:
        approved = s.get(CaseRow, {"workspace_id": team, "id": corrected.id})
        assert approved is not None and approved.status == CaseStatus.ACTIVE.value

    # App Home
    await ws.send(team, sr.event_envelope(SECRET, sr.app_home_opened(t.person)))
    await bot.settle()
    (home,) = [c for c in ws.slack_calls(team) if c.method == "views.publish"][-1:]
    assert t.secret in json.dumps(home.body, ensure_ascii=False)  # the asker's questions

    # the message shortcut on a colleague's message: answered where it was used
    colleague = f"{t.secret} what is the capital, asked by message shortcut?"
    ts = bot.slack.add_message(t.channel, colleague, user=t.other_person)
    before = ws.posted_ts(team)
    shortcut = sr.message_shortcut_payload(
        callback_id=ask_modal.MESSAGE_SHORTCUT,
        message={"ts": ts, "text": colleague, "user": t.other_person},
        user_id=t.person,
        channel_id=t.channel,
        response_url=ws.url(team, "shortcut"),
    )
    await ws.send(team, sr.interactive(SECRET, shortcut))
    await bot.settle()
    (third,) = ws.new_results(team, before)

    # the global shortcut's form, sent to the channel
    trigger = sr.uid("TRIG")
    form = sr.global_shortcut_payload(
        callback_id=ask_modal.GLOBAL_SHORTCUT, user_id=t.person, trigger_id=trigger
    )
    await ws.send(team, sr.interactive(SECRET, form))
    await bot.settle()
    assert [c for c in ws.slack_calls(team) if c.body.get("trigger_id") == trigger]
    before = ws.posted_ts(team)
    values = {
        ask_modal.QUESTION_BLOCK: {
            ask_modal.INPUT: {
                "type": "plain_text_input",
                "value": f"{t.secret} what is the capital, asked in the form?",
            }
        },
        ask_modal.WHERE_BLOCK: {
            ask_modal.INPUT: {"type": "conversations_select", "selected_conversation": t.channel}
        },
    }
    submit = sr.view_submission(
        SECRET, callback_id=ask_modal.ASK_CALLBACK, values=values, user_id=t.person
    )
    await ws.send(team, submit)
    await bot.settle()
    (fourth,) = ws.new_results(team, before)
    for result in (third, fourth):
        assert t.answer in json.dumps(result.as_json()), result.as_json()


def stored(ws: Workspaces, team: str) -> dict[str, int]:
    """How many rows of each kind ``team`` has (that each surface stored something)."""
    counts = {}
    for row in (PanelRunRow, SignalRow, VoteRow, CorrectionRow, CaseRow):
        counts[row.__tablename__] = len([r for r in ws.bot.rows(row) if r.workspace_id == team])
    return counts


def dump(ws: Workspaces, team: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row ``team`` owns, in every workspace table (and its workspace row), in a
    stable order: the picture of its data, value for value."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with ws.bot.db.engine.connect() as conn:
        for table in (*WORKSPACE_TABLES, WORKSPACES):
            key = table.c.workspace_id if "workspace_id" in table.c else table.c.id
            rows = conn.execute(select(table).where(key == team)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


async def digests(ws: Workspaces) -> dict[str, tuple[str | None, str]]:
    """The scheduler's digest job, for every installed workspace: digest channel ->
    (the workspace whose token posted there, what was posted)."""
    before = len(ws.bot.slack.calls)
    outcomes = await jobs.run_for_all(ws.bot.services, "digest")
    assert outcomes and {o.status for o in outcomes} == {JobStatus.DONE}, outcomes
    posted: dict[str, tuple[str | None, str]] = {}
    for call in ws.bot.slack.calls[before:]:
        if call.method == "chat.postMessage":
            team = ws.bot.slack.workspace_of(call.token)
            text = json.dumps(call.body, ensure_ascii=False, default=str)
            posted[str(call.body["channel"])] = (team, text)
    return posted


async def use_all_and_schedule(ws: Workspaces) -> dict[str, tuple[str | None, str]]:
    """Both workspaces use everything; then the scheduler's jobs run: the benchmark
    (each workspace's approved case becomes its eval run) and the digest (see
    :func:`digests`)."""
    for team in TEAMS:
        await use_everything(ws, team)
    benchmarks = await jobs.run_for_all(ws.bot.services, "benchmark")
    assert [(o.workspace, o.status) for o in benchmarks] == [
        (A, JobStatus.DONE),
        (B, JobStatus.DONE),
    ]
    return await digests(ws)


# -- the CLI --------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_openai: FakeOpenAIServer) -> None:
    """The CLI on the bot's database (the operator's view), with no Slack settings."""
    config = tmp_path / "quorum.yaml"
    config.write_text(
        yaml.safe_dump(panel_config(fake_openai.base_url, PANEL, slack=SECTIONS["slack"])),
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/quorum.db")
    monkeypatch.setenv("QUORUM_CONFIG", str(config))
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("SLACK_BOT_TOKEN", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)


def quorum(*args: str, exit_code: int = 0) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == exit_code, (args, result.output)
    assert "Traceback" not in result.output
    return result


def eval_runs(bot: Bot, team: str) -> list[int]:
    with bot.db.session() as s:
        return list(s.scalars(select(EvalRunRow.id).where(EvalRunRow.workspace_id == team)))


def exports(bot: Bot, tmp_path: Path, team: str) -> str:
    """Everything the CLI exports or reports for ``team``."""
    out = []
    for fmt in ("jsonl", "yaml", "promptfoo"):
        path = tmp_path / f"{team}.{fmt}"
        quorum(
            "cases", "export", str(path), "--workspace", team, "--status", "all", "--format", fmt
        )
        out.append(path.read_text(encoding="utf-8"))
    out.append(quorum("cases", "list", "--workspace", team, "--json").stdout)
    for case_id in case_ids(bot, team):
        out.append(quorum("cases", "show", case_id, "--workspace", team).stdout)
    listing = quorum("eval", "list", "--workspace", team).stdout
    listed = {int(n) for n in re.findall(r"^\s*(\d+)\s+\d{4}-\d\d-\d\d ", listing, re.M)}
    assert listed == set(eval_runs(bot, team)), listing  # run ids alone name no workspace
    out.append(listing)
    runs = eval_runs(bot, team)
    assert runs, f"{team} has no eval run to report"
    for run_id in runs:
        report = quorum("eval", "report", str(run_id), "--workspace", team).stdout
        assert TEAMS[team].secret in report, report  # its failing case, with its answers
        out.append(report)
    chart = str(tmp_path / f"{team}-digest.png")
    out.append(quorum("digest", "--preview", "--workspace", team, "--chart", chart).stdout)
    return "\n".join(out)


# -- the tests ------------------------------------------------------------------------


async def test_two_installed_workspaces_each_see_only_their_own_data(
    bot_factory: Callable[..., Any],
    fake_slack: FakeSlackAPI,
    browser: aiohttp.ClientSession,
    cli_env: None,
    tmp_path: Path,
) -> None:
    ws = await installed(bot_factory, fake_slack, browser)
    posted = await use_all_and_schedule(ws)
    # A Slack Connect guest (one user id in both workspaces) opens each App Home: the
    # other workspace's Home shows none of the questions they asked at home.
    for team, other in ((A, B), (B, A)):
        opened = sr.app_home_opened(TEAMS[other].person)
        await ws.send(team, sr.event_envelope(SECRET, opened))
    await ws.bot.settle()

    for team, t in TEAMS.items():
        # every surface stored something, in its own workspace
        counts = stored(ws, team)
        assert (counts["panel_runs"], counts["votes"], counts["corrections"]) == (4, 1, 1)
        assert counts["signals"] >= 3 and counts["cases"] >= 1, counts
        # answered with its own token only
        assert {ws.bot.slack.workspace_of(c.token) for c in ws.slack_calls(team)} == {team}
        # its digest: the scheduler's job, its token, its channel, its data
        by, digest = posted[t.digest_channel]
        assert by == team
        assert t.secret in digest and "4 question(s)" in digest, digest
        assert "No benchmark results" not in digest  # its own benchmark is in it
    assert set(posted) == {t.digest_channel for t in TEAMS.values()}
    uploads = {
        ws.bot.slack.workspace_of(c.token): c.body.get("channel_id")
        for c in fake_slack.calls_to("files.completeUploadExternal")
    }
    assert uploads == {team: t.digest_channel for team, t in TEAMS.items()}
    # every Web API call the bot made was made with one of the two installs' tokens
    assert {fake_slack.workspace_of(c.token) for c in fake_slack.calls if c.token} == {A, B}

    for team, other in ((A, B), (B, A)):
        shown = ws.shown(team)
        assert TEAMS[team].secret in shown
        found = leaks(ws.bot, shown, of=other)
        assert not found, f"{team} was shown {found} of {other}"
        _, digest = posted[TEAMS[team].digest_channel]
        found = leaks(ws.bot, digest, of=other)
        assert not found, f"{team}'s digest names {found} of {other}"
        exported = exports(ws.bot, tmp_path, team)
        assert TEAMS[team].secret in exported
        found = leaks(ws.bot, exported, of=other)
        assert not found, f"the CLI gave {team} {found} of {other}"
        # and the other's eval runs and cases, asked for by id, are not found
        for run_id in eval_runs(ws.bot, other):
            refused = quorum("eval", "report", str(run_id), "--workspace", team, exit_code=2)
            assert "There is no eval run" in refused.output
            assert not leaks(ws.bot, refused.output, of=other)
        for case_id in case_ids(ws.bot, other):
            refused = quorum("cases", "show", case_id, "--workspace", team, exit_code=2)
            assert "no case with id" in refused.output


@pytest.mark.parametrize("data", ["keep", "delete"])
async def test_uninstalling_a_leaves_b_untouched_and_a_politely_refused(
    bot_factory: Callable[..., Any],
    fake_slack: FakeSlackAPI,
    browser: aiohttp.ClientSession,
    data: str,
) -> None:
    ws = await installed(bot_factory, fake_slack, browser, quorum_uninstall_data=data)
    await use_all_and_schedule(ws)
    a_before, b_before = dump(ws, A), dump(ws, B)
    assert all(b_before[row.__tablename__] for row in (PanelRunRow, CaseRow, EvalRunRow))

    reply = await ws.bot.send(uninstalled(ws.bot, A))
    assert reply.status == 200
    await ws.bot.settle()

    assert dump(ws, B) == b_before
    a_after = dump(ws, A)
    if data == "keep":
        assert a_after == a_before
    else:
        assert not [name for name, rows in a_after.items() if rows], a_after

    # A is refused politely, through its command's response URL; nothing is posted
    calls = len(fake_slack.calls)
    before = ws.posted_ts(A)
    request = sr.slash_command(
        SECRET,
        f"{TEAMS[A].secret} anyone there?",
        user_id=TEAMS[A].person,
        channel_id=TEAMS[A].channel,
        response_url=ws.url(A, "after"),
    )
    await ws.send(A, request)
    await ws.bot.settle()
    assert fake_slack.response_url_posts(f"{A}-after")[-1]["text"] == NOT_INSTALLED
    assert not ws.new_results(A, before)
    assert not [c for c in fake_slack.calls[calls:] if c.method.startswith("chat.")]

    # B still answers, with its own token; the scheduler now lists B alone
    result = await ask(ws, B, f"{TEAMS[B].secret} still there?")
    assert TEAMS[B].answer in json.dumps(result.as_json())
    assert {fake_slack.workspace_of(c.token) for c in fake_slack.calls[calls:] if c.token} == {B}
    outcomes = await jobs.run_for_all(ws.bot.services, "digest")
    assert [o.workspace for o in outcomes] == [B]
