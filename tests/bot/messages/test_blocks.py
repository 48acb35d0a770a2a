"""Block Kit builders: Slack's limits (validated by slack_sdk's models) and the wording."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.compare import delivery
from bot.messages import commands, compare_result, correction_modal, result_text
from bot.messages.case_review import case_actions, new_case_notice
from evals.cases.schema import CaseInput, EvalCase
from evals.records import Consensus, ConsensusStatus, ErrorKind, ModelAnswer, PanelRun
from tests.bot.conftest import action_ids, block_text
from tests.fakes import slack_requests as sr

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _run(*answers: ModelAnswer, seconds: float = 2.5) -> PanelRun:
    return PanelRun("Q?", tuple(answers), T0, T0 + timedelta(seconds=seconds))


def _ok(member: str, text: str, cost: float | None = 0.0012) -> ModelAnswer:
    return ModelAnswer(
        member=member, model=f"openai/{member}", text=text, latency_ms=1800, cost_usd=cost
    )


def _consensus(
    model: str | None,
    text: str | None,
    conf: float,
    clusters: tuple[tuple[str, ...], ...],
    dissenters: tuple[str, ...] = (),
    status: ConsensusStatus = ConsensusStatus.OK,
) -> Consensus:
    return Consensus(
        status=status,
        model=model,
        text=text,
        confidence=conf,
        raw_confidence=conf,
        clusters=clusters,
        agreement={},
        dissenters=dissenters,
        features={},
        calibrator="t",
        reason="",
    )


def _valid(dicts: list[dict]) -> None:  # type: ignore[type-arg]
    assert len(dicts) <= 50
    for d in dicts:
        block = Block.parse(d)
        assert block is not None
        block.validate_json()  # raises SlackObjectFormationError when over a limit


def _sections(out: list[dict]) -> list[str]:  # type: ignore[type-arg]
    """Each block's visible text, in order (sections and contexts)."""
    texts = []
    for b in out:
        if b["type"] == "section":
            texts.append(b["text"]["text"])
        elif b["type"] == "context":
            texts.append(" | ".join(e["text"] for e in b["elements"]))
    return texts


def test_the_verdict_comes_first_above_the_answer_with_who_agrees() -> None:
    run = _run(*(_ok(m, "Paris.") for m in "abc"), _ok("d", "Berlin, surely.\nMore."))
    c = _consensus("b", "Paris.", 0.82, (("a", "b", "c"), ("d",)), dissenters=("d",))
    texts = _sections(compare_result.result_blocks(compare_result.ResultView(run, c, "U1", 7)))
    verdict = texts.index("🟢 *3 of 4 models agree · 82% likely right*")
    answer = texts.index("Paris.")
    assert verdict == 1 and verdict < answer  # right under the question, above the answer
    assert "Answer from *b*, agreed by *a*, *c*" in texts[answer - 1]
    assert texts[answer + 1] == "*Differs*\n• *d*: “Berlin, surely.”"
    assert "Models: a, b, c, d · total 2.5 s · $0.0048" in texts
    # what to do when it is wrong, right above the buttons
    assert "Wrong? Press 👎, or *✏️ Correct*" in texts[-1]


def test_the_meaning_and_the_caveat_of_the_number_are_shown_when_given() -> None:
    run = _run(*(_ok(m, "Paris.") for m in "abcd"))
    c = replace(
        _consensus("a", "Paris.", 0.31, (("a", "b", "c", "d"),)),
        meaning="Of answers given about 30%, 29% were right (held-out TruthfulQA panels).",
        caveat="agreement on this kind of question is a weak signal",
    )
    texts = _sections(compare_result.result_blocks(compare_result.ResultView(run, c, "U1", 7)))
    assert texts[1] == "🔴 *4 of 4 models agree · 31% likely right*"
    assert "Of answers given about 30%, 29% were right" in texts[2]
    assert "Why not higher: agreement on this kind of question is a weak signal" in texts[2]


def test_low_confidence_with_agreement_says_why_in_the_consensus_words() -> None:
    run = _run(
        _ok("a", "Paris."),
        _ok("b", "Paris."),
        ModelAnswer(member="c", model="m", error=ErrorKind.TIMEOUT, reference="Q-00C0FFEE"),
        ModelAnswer(member="d", model="m", error=ErrorKind.TIMEOUT),
    )
    caveat = "Only 2 of 4 models answered, so there was less to cross-check."
    c = replace(_consensus("a", "Paris.", 0.3, (("a", "b"),)), caveat=caveat)
    texts = _sections(compare_result.result_blocks(compare_result.ResultView(run, c, "U1", 7)))
    assert texts[1] == "🔴 *2 of 4 models agree · 30% likely right*"  # failed models count
    assert f"Why not higher: {caveat}" in texts[2]
    # a confident result needs no excuse
    high = _consensus("a", "Paris.", 0.9, (("a", "b"),))
    shown = _sections(compare_result.result_blocks(compare_result.ResultView(run, high, "U1", 7)))
    assert not any("Why not higher" in t for t in shown)


def test_low_confidence_names_the_dissenters_and_the_gist_of_their_dissent() -> None:
    run = _run(
        _ok("a", "Paris."),
        _ok("b", "Berlin. It has been since 1990.\nMore."),
        _ok("c", "Lyon **for sure**."),
    )
    c = _consensus("a", "Paris.", 0.31, (("a",), ("b",), ("c",)), dissenters=("b", "c"))
    shown = block_text(compare_result.result_blocks(compare_result.ResultView(run, c, "U1", 7)))
    assert "🔴 *Models disagree: no two of 3 agree · 31% likely right*" in shown
    assert "*2 models differ*" in shown
    assert "*b*: “Berlin.”" in shown and "*c*: “Lyon for sure.”" in shown


def test_an_answer_shown_over_a_bigger_cluster_says_so_and_why() -> None:
    run = _run(_ok("strong", "There are 12."), _ok("weak1", "7."), _ok("weak2", "It is 7."))
    reason = (
        "strong's record on labelled questions makes its answer more likely right than the "
        "2 models that agree on another one."
    )
    c = replace(
        _consensus(
            "strong", "There are 12.", 0.55, (("weak1", "weak2"), ("strong",)), ("weak1", "weak2")
        ),
        features={"rival_support": 2.0},
        caveat=reason,
    )
    texts = _sections(compare_result.result_blocks(compare_result.ResultView(run, c, "U1", 7)))
    # Never "no two agree" when two do: the verdict names the bigger cluster.
    assert texts[1] == "🟡 *Models disagree: 2 of 3 agree on another answer · 55% likely right*"
    assert f"Why this answer: {reason}" in texts[2]
    assert not any("Why not higher" in t for t in texts)
    assert "*2 models differ*" in block_text(
        compare_result.result_blocks(compare_result.ResultView(run, c, "U1", 7))
    )


def test_single_and_none() -> None:
    run = _run(_ok("a", "Paris."), ModelAnswer(member="b", model="m", error=ErrorKind.TIMEOUT))
    single = _consensus("a", "Paris.", 0.2, (("a",),), status=ConsensusStatus.SINGLE)
    shown = block_text(
        compare_result.result_blocks(compare_result.ResultView(run, single, "U1", 1))
    )
    assert "Only 1 of 2 models answered · 20% likely right" in shown
    assert "*b* timed out" in shown
    none = replace(
        _consensus(None, None, 0.0, (), status=ConsensusStatus.NONE), reason="quorum not met"
    )
    shown = block_text(compare_result.result_blocks(compare_result.ResultView(run, none, "U1", 1)))
    assert "⚪ *No consensus* — quorum not met" in shown


def test_a_failure_shows_the_providers_reason_and_the_log_reference() -> None:
    failed = ModelAnswer(
        member="b",
        model="m",
        error=ErrorKind.BAD_REQUEST,
        error_detail="HTTP 400 BadRequestError: maximum context length is 8192 tokens",
        reference="Q-1A2B3C4D",
    )
    run = _run(_ok("a", "Paris."), _ok("c", "Paris."), failed)
    c = _consensus("a", "Paris.", 0.8, (("a", "c"),))
    shown = block_text(compare_result.result_blocks(compare_result.ResultView(run, c, "U1", 1)))
    assert (
        "⚠️ *b* refused the request: maximum context length is 8192 tokens · ref `Q-1A2B3C4D`"
        in shown
    )
    assert "HTTP 400" not in shown and "BadRequestError" not in shown
    # an untrusted reason is escaped like any model output
    evil = replace(failed, error_detail="HTTP 400 BadRequestError: <!channel> look")
    assert "&lt;!channel&gt; look" in result_text.failure_line(evil)


def test_when_every_model_failed_there_are_no_feedback_buttons() -> None:
    run = _run(
        ModelAnswer(member="a", model="m", error=ErrorKind.AUTH, reference="Q-AAAAAAAA"),
        ModelAnswer(member="b", model="m", error=ErrorKind.TIMEOUT, reference="Q-BBBBBBBB"),
    )
    c = replace(_consensus(None, None, 0.0, (), status=ConsensusStatus.NONE), reason="x")
    out = compare_result.result_blocks(compare_result.ResultView(run, c, "U1", 1))
    _valid(out)
    assert action_ids(out) == []
    texts = _sections(out)
    assert texts[1] == "⚪ *No answer* — none of the 2 models could answer"
    assert "ref `Q-AAAAAAAA`" in block_text(out) and "Try again in a minute" in block_text(out)
    reply = block_text(compare_result.failures_reply_blocks(run))
    assert "*a* rejected our credentials" in reply and "*b* timed out" in reply


def test_the_short_result_slack_gets_when_it_refuses_the_full_one_reads_the_same() -> None:
    """The fallback has the full result's verdict-first wording, meaning line, who agrees,
    dissent and failures (with refs) and the buttons; only the answer is cut short."""
    long_answer = "Paris is the capital of France. " * 300
    run = _run(
        *(_ok(m, long_answer) for m in "abc"),
        ModelAnswer(member="d", model="m", error=ErrorKind.TIMEOUT, reference="Q-0000D00D"),
    )
    c = replace(
        _consensus("b", long_answer, 0.82, (("a", "b", "c"),)),
        meaning="Of answers given about 80%, 82% were right (held-out TruthfulQA panels).",
    )
    view = compare_result.ResultView(run, c, "U1", 7)
    short = delivery.short_result_blocks(view)
    _valid(short)
    texts = _sections(short)
    assert texts[0] == "<@U1> asked:\n> Q?"
    assert texts[1] == "🟢 *3 of 4 models agree · 82% likely right*"
    assert texts[2] == "Of answers given about 80%, 82% were right (held-out TruthfulQA panels)."
    assert texts[3] == "Answer from *b*, agreed by *a*, *c*"
    assert texts[4].startswith("Paris is the capital") and texts[4].endswith(
        "_(continued in the thread)_"
    )
    assert len(texts[4]) <= compare_result.SHORT_ANSWER_CHARS
    assert "⚠️ *d* timed out · ref `Q-0000D00D`" in texts
    assert "Wrong? Press 👎, or *✏️ Correct*" in texts[-1] and "in the thread" in texts[-1]
    assert action_ids(short) == ["quorum_correct", "quorum_flag", "quorum_feedback"]
    assert not any("Consensus answer from" in t for t in texts)
    # the same words as the full result, block for block, but the answer
    full = _sections(compare_result.result_blocks(view))
    assert full[:4] == texts[:4] and full[-3:] == texts[-3:] and len(full) > len(texts)
    # when every model failed there is nothing to rate in the short result either
    failed = _run(ModelAnswer(member="a", model="m", error=ErrorKind.AUTH, reference="Q-A"))
    none = replace(_consensus(None, None, 0.0, (), status=ConsensusStatus.NONE), reason="x")
    out = delivery.short_result_blocks(compare_result.ResultView(failed, none, "U1", 1))
    assert action_ids(out) == [] and "⚪ *No answer*" in block_text(out)


@pytest.mark.parametrize(
    ("cost", "shown"),
    [
        (None, "cost unknown"),
        (0.0, "$0"),
        (0.00001, "<$0.0001"),
        (0.00004999, "<$0.0001"),
        (0.00005, "$0.0001"),
        (0.0123, "$0.0123"),
        (3.5, "$3.50"),
    ],
)
def test_costs_too_small_to_show_are_never_zero(cost: float | None, shown: str) -> None:
    assert result_text.dollars(cost) == shown


def test_help_explains_agreement_and_confidence_in_three_sentences() -> None:
    text = block_text(commands.help_blocks())
    part = text.split("*How to read a result.*", 1)[1].strip()
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", part) if s]
    assert len(sentences) == 3
    assert sentences[0].startswith("*Agreement* counts the models that gave the same final")
    assert "*Confidence*" in sentences[1] and "likely right" in sentences[1]
    assert "share a mistake" in sentences[2]


@settings(max_examples=25, deadline=None)
@given(st.text(min_size=0, max_size=40_000), st.integers(min_value=1, max_value=8))
def test_any_answer_fits_slacks_limits(text: str, members: int) -> None:
    answers = [_ok(f"m{i}", text) for i in range(members)]
    run = _run(*answers)
    c = _consensus(
        "m0",
        text,
        0.5,
        (tuple(a.member for a in answers),),
        dissenters=tuple(a.member for a in answers[1:]),
    )
    _valid(compare_result.result_blocks(compare_result.ResultView(run, c, "U1", 3)))
    _valid(compare_result.member_blocks(3, answers[0], agreement=0.5, is_consensus=True))
    _valid(compare_result.progress_blocks(text, "U1", [a.member for a in answers], {}))


def test_a_very_long_answer_is_split_into_sections_and_kept_under_50_blocks() -> None:
    long = "\n\n".join(f"Paragraph {i}: " + "word " * 500 for i in range(60))
    run = _run(_ok("a", long), _ok("b", long))
    c = _consensus("a", long, 0.9, (("a", "b"),))
    out = compare_result.result_blocks(compare_result.ResultView(run, c, "U1", 3))
    _valid(out)
    assert len(out) <= 50
    assert "continued in the thread" in block_text(out)
    assert action_ids(out) == ["quorum_correct", "quorum_flag", "quorum_feedback"]
    sections = [b for b in out if b["type"] == "section"]
    assert all(len(b["text"]["text"]) <= 3000 for b in sections)


def test_correction_modal_is_a_valid_view() -> None:
    view = correction_modal.correction_modal({"run_id": 1}, original="<!channel> Paris")
    View(**view).validate_json()
    assert "&lt;!channel&gt;" in block_text(view["blocks"])


def test_models_listing() -> None:
    lines = [
        commands.ModelLine("a", "openai/a", 1.0, 12, 1500, 0.0021, 0.25),
        commands.ModelLine("b", "openai/b", 2.0, 0, None, None, None),
    ]
    shown = block_text(commands.models_blocks(lines, 7, ["cand"]))
    assert "*a* `openai/a`: median 1.5 s · $0.0021 per answer · 12 answers · 25% failed" in shown
    assert "*b* `openai/b` (weight 2): no answers yet" in shown
    assert "Shadow candidates (answers hidden): cand" in shown


MANIFEST = Path(__file__).resolve().parents[3] / "bot" / "manifest.yaml"


def test_manifest_matches_what_the_code_listens_to() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert commands == ["/compare"]
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {
        "app_mention",
        "message.im",
        "message.channels",
        "reaction_added",
        "reaction_removed",
    } <= events
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {
        "commands",
        "chat:write",
        "app_mentions:read",
        "reactions:read",
        "im:history",
        "channels:history",
    } <= scopes
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
    urls = {
        manifest["settings"]["interactivity"]["request_url"],
        manifest["settings"]["event_subscriptions"]["request_url"],
        manifest["features"]["slash_commands"][0]["url"],
    }
    assert {u.rsplit("/", 2)[-2] + "/" + u.rsplit("/", 1)[-1] for u in urls} == {"slack/events"}


async def test_every_subscribed_event_is_handled(bot, caplog) -> None:  # type: ignore[no-untyped-def]
    """An event nobody listens to is acknowledged with a "no listener" log line (Bolt
    alone would answer 404, and Slack would retry it): none of the subscribed ones."""
    caplog.set_level(logging.INFO)

    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    channel_types = {"channels": "channel", "groups": "group", "im": "im", "mpim": "mpim"}
    for name in manifest["settings"]["event_subscriptions"]["bot_events"]:
        kind, _, where = name.partition(".")
        if kind == "message":
            event = sr.message("hello", channel="C1", channel_type=channel_types[where])
            event["subtype"] = "message_changed"  # nothing to answer: only the ack matters
        elif kind == "app_mention":
            event = sr.app_mention("<@UQUORUMBOT> help")
        elif kind == "app_home_opened":
            event = sr.app_home_opened()
        else:
            event = sr.reaction("tada", item_ts="1.2", removed=kind == "reaction_removed")
        reply = await bot.event(event)
        assert reply.status == 200, f"{name} is subscribed but not handled"
    await bot.settle()
    assert [r.getMessage() for r in caplog.records if "no listener" in r.getMessage()] == []
    await bot.event({"type": "team_rename", "name": "x"})
    assert [r.getMessage() for r in caplog.records if "no listener" in r.getMessage()] == [
        "no listener for event team_rename; acknowledged and ignored"
    ]


@pytest.mark.parametrize("ms,expected", [(0, "0.0 s"), (1849, "1.8 s"), (12_000, "12.0 s")])
def test_seconds(ms: int, expected: str) -> None:
    assert result_text.seconds(ms) == expected


def test_thread_replies_say_whether_each_answer_agrees_with_the_one_shown() -> None:
    picked = block_text(
        compare_result.member_blocks(
            3, _ok("a", "Paris."), agreement=0.9, is_consensus=True, agrees=True
        )
    )
    agrees = block_text(
        compare_result.member_blocks(
            3, _ok("b", "Paris."), agreement=0.9, is_consensus=False, agrees=True
        )
    )
    differs = block_text(
        compare_result.member_blocks(
            3, _ok("c", "Lyon."), agreement=0.2, is_consensus=False, agrees=False
        )
    )
    assert picked.startswith("*a* · the answer shown above · 1.8 s")
    assert agrees.startswith("*b* · agrees with the answer above")
    assert differs.startswith("*c* · differs from the answer above")


def test_a_result_without_a_consensus_answer_points_to_the_thread_not_to_corrections() -> None:
    run = _run(_ok("a", "1991."), ModelAnswer(member="b", model="m", error=ErrorKind.TIMEOUT))
    none = replace(
        _consensus(None, None, 0.0, (), status=ConsensusStatus.NONE), reason="quorum not met"
    )
    shown = block_text(compare_result.result_blocks(compare_result.ResultView(run, none, "U1", 1)))
    assert "Each model's full answer is in the thread." in shown
    assert "Wrong?" not in shown


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab -."), max_size=300), st.integers(5, 200))
def test_a_gist_is_shortened_between_words(text: str, limit: int) -> None:
    short = result_text.shorten_words(text, limit)
    assert len(short) <= limit
    if short == text:
        return
    kept = short.removesuffix("…")
    assert text.startswith(kept)
    # cut where a word ends, unless a single word fills more than half the line
    if " " in text[limit // 2 : limit - 1]:
        assert text[len(kept) :][:1] in (" ", ",", ";", ":") or not kept


def test_case_review_asks_before_freezing_a_case_without_an_answer_key() -> None:
    bare = EvalCase(id="c1", input=CaseInput(question="Q?"), tags=["production", "thumbs-down"])
    keyed = bare.model_copy(update={"expected": "A."})

    def golden(case: EvalCase) -> dict:  # type: ignore[type-arg]
        (button,) = [
            e
            for e in case_actions(case).to_dict()["elements"]
            if e["action_id"] == "cases_approve_golden"
        ]
        return button  # type: ignore[no-any-return]

    confirm = golden(bare)["confirm"]
    assert confirm["title"]["text"] == "No expected answer"
    assert confirm["confirm"]["text"] == "Approve anyway"
    assert "confirm" not in golden(keyed)
    # the notice names the signal: 👎 here, 🚩 for a flag
    assert "from a 👎 on an answer" in block_text(new_case_notice(bare))


@pytest.mark.parametrize(
    "detail",
    [
        "HTTP 429 RateLimitError: Rate limit reached for requests (after 3 attempts)",  # litellm
        "HTTP 429 Too Many Requests: Rate limit reached for requests (after 3 attempts)",  # direct
        "HTTP 429: Rate limit reached for requests (after 3 attempts)",
        "RateLimitError: Rate limit reached for requests (after 3 attempts)",
    ],
)
def test_a_failure_shows_the_providers_reason_whichever_client_asked(detail: str) -> None:
    failed = ModelAnswer(
        member="beta",
        model="openai/beta",
        error=ErrorKind.RATE_LIMITED,
        error_detail=detail,
        reference="Q-0000BEEF",
    )
    line = result_text.failure_line(failed)
    assert "Rate limit reached for requests (after 3 attempts)" in line
    assert "HTTP" not in line and "RateLimitError" not in line
