"""Block Kit builders: Slack's limits (validated by slack_sdk's models) and the wording."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from bot import blocks, command_blocks, correction_blocks
from evals.types import Consensus, ConsensusStatus, ErrorKind, ModelAnswer, PanelRun
from tests.bot.conftest import action_ids, block_text

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


def test_high_confidence_badge_with_agreement_count() -> None:
    run = _run(*(_ok(m, "Paris.") for m in "abcd"))
    c = _consensus("a", "Paris.", 0.87, (("a", "b", "c", "d"),))
    shown = block_text(blocks.result_blocks(blocks.ResultView(run, c, "U1", 7)))
    assert "High confidence 0.87* — 4 of 4 models agree" in shown
    assert "Models: a, b, c, d · total 2.5 s · $0.0048" in shown


def test_low_confidence_names_the_dissenters_and_the_gist_of_their_dissent() -> None:
    run = _run(
        _ok("a", "Paris."),
        _ok("b", "Berlin. It has been since 1990.\nMore."),
        _ok("c", "Lyon **for sure**."),
    )
    c = _consensus("a", "Paris.", 0.31, (("a",), ("b",), ("c",)), dissenters=("b", "c"))
    shown = block_text(blocks.result_blocks(blocks.ResultView(run, c, "U1", 7)))
    assert "Low confidence 0.31* — models disagree" in shown
    assert "*b*: “Berlin.”" in shown and "*c*: “Lyon for sure.”" in shown


def test_single_and_none() -> None:
    run = _run(_ok("a", "Paris."), ModelAnswer(member="b", model="m", error=ErrorKind.TIMEOUT))
    single = _consensus("a", "Paris.", 0.2, (("a",),), status=ConsensusStatus.SINGLE)
    shown = block_text(blocks.result_blocks(blocks.ResultView(run, single, "U1", 1)))
    assert "only one model answered" in shown and "*b* did not answer in time" in shown


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
    _valid(blocks.result_blocks(blocks.ResultView(run, c, "U1", 3)))
    _valid(blocks.member_blocks(3, answers[0], agreement=0.5, is_consensus=True))
    _valid(blocks.progress_blocks(text, "U1", [a.member for a in answers], {}))


def test_a_very_long_answer_is_split_into_sections_and_kept_under_50_blocks() -> None:
    long = "\n\n".join(f"Paragraph {i}: " + "word " * 500 for i in range(60))
    run = _run(_ok("a", long), _ok("b", long))
    c = _consensus("a", long, 0.9, (("a", "b"),))
    out = blocks.result_blocks(blocks.ResultView(run, c, "U1", 3))
    _valid(out)
    assert len(out) <= 50
    assert "continued in the thread" in block_text(out)
    assert action_ids(out) == ["quorum_up", "quorum_down", "quorum_correct", "quorum_flag"]
    sections = [b for b in out if b["type"] == "section"]
    assert all(len(b["text"]["text"]) <= 3000 for b in sections)


def test_correction_modal_is_a_valid_view() -> None:
    from slack_sdk.models.views import View

    view = correction_blocks.correction_modal({"run_id": 1}, original="<!channel> Paris")
    View(**view).validate_json()
    assert "&lt;!channel&gt;" in block_text(view["blocks"])


def test_models_listing() -> None:
    lines = [
        command_blocks.ModelLine("a", "openai/a", 1.0, 12, 1500, 0.0021, 0.25),
        command_blocks.ModelLine("b", "openai/b", 2.0, 0, None, None, None),
    ]
    shown = block_text(command_blocks.models_blocks(lines, 7, ["cand"]))
    assert "*a* `openai/a`: median 1.5 s · $0.0021 per answer · 12 answers · 25% failed" in shown
    assert "*b* `openai/b` (weight 2): no answers yet" in shown
    assert "Shadow candidates (answers hidden): cand" in shown


MANIFEST = Path(__file__).resolve().parents[2] / "bot" / "manifest.yaml"


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


async def test_every_subscribed_event_is_handled(bot) -> None:  # type: ignore[no-untyped-def]
    """Bolt answers 404 to events nobody listens to, and Slack then retries them."""
    from tests.fakes import slack_requests as sr

    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    channel_types = {"channels": "channel", "groups": "group", "im": "im", "mpim": "mpim"}
    for name in manifest["settings"]["event_subscriptions"]["bot_events"]:
        kind, _, where = name.partition(".")
        if kind == "message":
            event = sr.message("hello", channel="C1", channel_type=channel_types[where])
            event["subtype"] = "message_changed"  # nothing to answer: only the ack matters
        elif kind == "app_mention":
            event = sr.app_mention("<@UQUORUMBOT> help")
        else:
            event = sr.reaction("tada", item_ts="1.2", removed=kind == "reaction_removed")
        reply = await bot.event(event)
        assert reply.status == 200, f"{name} is subscribed but not handled"
    await bot.settle()


@pytest.mark.parametrize("ms,expected", [(0, "0.0 s"), (1849, "1.8 s"), (12_000, "12.0 s")])
def test_seconds(ms: int, expected: str) -> None:
    assert blocks.seconds(ms) == expected
