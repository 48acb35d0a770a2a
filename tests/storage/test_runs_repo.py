"""Panel runs: stored in one transaction with every field, read back as typed records."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from evals.errors import StorageError
from evals.models.panel import panel_messages, sent_prompt
from evals.records import ChatMessage, ConsensusStatus, ErrorKind, PanelMember
from storage import repo
from storage.db import Database
from storage.records import AnswerRole, RunOrigin
from storage.tables.panel_runs import AnswerRow, PanelRunRow
from tests.fakes.slack_requests import TEAM_ID
from tests.storage.factories import T0, answer, consensus_for, panel_run


def _count(db: Database, table: type[PanelRunRow] | type[AnswerRow]) -> int:
    with db.session() as s:
        return s.query(table).count()


def test_round_trip_keeps_every_field(db: Database) -> None:
    run = panel_run(
        [
            answer("alpha", latency_ms=900, cost_usd=0.002),
            answer("beta", "Paris.", latency_ms=1500, cost_usd=None),
            answer("gamma", error=ErrorKind.TIMEOUT, latency_ms=30000, cost_usd=None),
        ]
    )
    consensus = consensus_for(run)
    shadow = [answer("cand", "It is Paris.", latency_ms=700, cost_usd=0.0005)]
    with db.session() as s:
        run_id = repo.save_panel_run(
            s,
            run,
            consensus,
            origin=RunOrigin.SLACK,
            requester="U123",
            config_hash="cfg-abc",
            channel_id="C1",
            thread_ts="1700000000.000100",
            team_id="T9",
            delivery_key="Ev42",
            shadow_answers=shadow,
            shadow_agreement={"cand": 0.88},
            workspace=TEAM_ID,
        )
    with db.session() as s:
        stored = repo.get_run(s, run_id, workspace=TEAM_ID)
    assert stored is not None
    assert stored.id == run_id
    assert stored.question == "What is the capital of France?"
    assert stored.origin is RunOrigin.SLACK
    assert (stored.requester, stored.team_id, stored.channel_id) == ("U123", "T9", "C1")
    assert stored.thread_ts == "1700000000.000100"
    assert stored.message_ts is None
    assert stored.config_hash == "cfg-abc"
    assert stored.quorum == 2
    assert stored.status is ConsensusStatus.OK
    assert stored.consensus_member == "alpha"
    assert stored.consensus_text == "Paris is the capital of France."
    assert stored.confidence == pytest.approx(0.82)
    assert stored.raw_confidence == pytest.approx(0.9)
    assert stored.calibrator_id == "isotonic-test-1"
    assert stored.clusters == (("alpha", "beta"),)
    assert stored.features == {"support": 1.0, "entropy": 0.0, "cohesion": 0.93, "n_answers": 2.0}
    assert stored.latency_ms == 1850
    assert stored.cost_usd == pytest.approx(0.002)
    assert stored.delivery_key == "Ev42"
    assert stored.created_at == T0
    assert stored.finished_at == T0 + timedelta(milliseconds=1850)

    assert [(a.member, a.role) for a in stored.answers] == [
        ("alpha", AnswerRole.PANEL),
        ("beta", AnswerRole.PANEL),
        ("gamma", AnswerRole.PANEL),
        ("cand", AnswerRole.SHADOW),
    ]
    alpha, beta, gamma, cand = stored.answers
    assert alpha.model == "openai/alpha"
    assert alpha.resolved_model == "alpha-2026-01-01"
    assert (alpha.prompt_tokens, alpha.completion_tokens) == (12, 34)
    assert alpha.latency_ms == 900
    assert alpha.cost_usd == pytest.approx(0.002)
    assert alpha.finish_reason == "stop"
    assert alpha.agreement == pytest.approx(0.95)
    assert alpha.ok and alpha.error_kind is None
    assert beta.text == "Paris." and beta.cost_usd is None
    assert beta.agreement == pytest.approx(0.85)
    assert gamma.error_kind is ErrorKind.TIMEOUT
    assert gamma.error_detail == "timed out after 30 s"
    assert gamma.agreement is None and not gamma.ok
    assert cand.agreement == pytest.approx(0.88)
    assert stored.consensus_answer == alpha
    assert stored.panel_answers == (alpha, beta, gamma)
    assert stored.shadow_answers == (cand,)


def test_datetimes_come_back_utc_aware(db: Database) -> None:
    paris = datetime(2026, 11, 2, 10, 30, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    run = panel_run(started_at=paris)
    with db.session() as s:
        run_id = repo.save_panel_run(
            s,
            run,
            consensus_for(run),
            origin=RunOrigin.CLI,
            requester="me",
            config_hash="h",
            workspace=TEAM_ID,
        )
    with db.session() as s:
        stored = repo.get_run(s, run_id, workspace=TEAM_ID)
    assert stored is not None
    for value in [stored.created_at, stored.finished_at, *(a.created_at for a in stored.answers)]:
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
    assert stored.created_at == datetime(2026, 11, 2, 10, 30, tzinfo=UTC)


def test_naive_datetimes_are_refused(db: Database) -> None:
    run = panel_run(started_at=datetime(2026, 1, 1, 12, 0))
    with pytest.raises(ValueError, match="naive"), db.session() as s:
        repo.save_panel_run(
            s,
            run,
            consensus_for(run),
            origin=RunOrigin.CLI,
            requester="me",
            config_hash="h",
            workspace=TEAM_ID,
        )
    assert _count(db, PanelRunRow) == 0


def test_error_mid_write_leaves_no_partial_run(db: Database) -> None:
    # A missing text breaks answers.text NOT NULL on both backends: the answers insert
    # fails after the run row was already flushed in the same transaction.
    bad = answer("beta")
    object.__setattr__(bad, "text", None)
    run = panel_run([answer("alpha"), bad])
    with pytest.raises(StorageError) as caught, db.session() as s:
        repo.save_panel_run(
            s,
            run,
            consensus_for(run),
            origin=RunOrigin.CLI,
            requester="me",
            config_hash="h",
            workspace=TEAM_ID,
        )
    assert "failed on" in str(caught.value)
    assert _count(db, PanelRunRow) == 0
    assert _count(db, AnswerRow) == 0


def test_error_after_save_in_same_transaction_rolls_back_the_run(db: Database) -> None:
    run = panel_run()
    with pytest.raises(RuntimeError), db.session() as s:
        repo.save_panel_run(
            s,
            run,
            consensus_for(run),
            origin=RunOrigin.CLI,
            requester="me",
            config_hash="h",
            workspace=TEAM_ID,
        )
        raise RuntimeError("posting to Slack failed")
    assert _count(db, PanelRunRow) == 0


def test_duplicate_delivery_key_is_refused(db: Database) -> None:
    run = panel_run()
    kwargs = {
        "workspace": TEAM_ID,
        "origin": RunOrigin.SLACK,
        "requester": "U1",
        "config_hash": "h",
    }
    with db.session() as s:
        first = repo.save_panel_run(s, run, consensus_for(run), delivery_key="Ev1", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(repo.DuplicateDeliveryError), db.session() as s:
        repo.save_panel_run(s, run, consensus_for(run), delivery_key="Ev1", **kwargs)  # type: ignore[arg-type]
    with db.session() as s:
        found = repo.get_run_by_delivery(s, "Ev1", workspace=TEAM_ID)
    assert found is not None and found.id == first
    assert _count(db, PanelRunRow) == 1


def test_no_consensus_run_is_stored(db: Database) -> None:
    run = panel_run(
        [answer("alpha", error=ErrorKind.AUTH), answer("beta", error=ErrorKind.RATE_LIMITED)]
    )
    with db.session() as s:
        run_id = repo.save_panel_run(
            s,
            run,
            consensus_for(run),
            origin=RunOrigin.CLI,
            requester="me",
            config_hash="h",
            workspace=TEAM_ID,
        )
    with db.session() as s:
        stored = repo.get_run(s, run_id, workspace=TEAM_ID)
    assert stored is not None
    assert stored.status is ConsensusStatus.NONE
    assert stored.consensus_member is None and stored.consensus_answer is None
    assert stored.reason == "no model answered"
    assert [a.error_kind for a in stored.answers] == [ErrorKind.AUTH, ErrorKind.RATE_LIMITED]
    assert stored.cost_usd == pytest.approx(0.002)


def test_messages_find_their_run_and_answer(db: Database) -> None:
    run = panel_run()
    with db.session() as s:
        run_id = repo.save_panel_run(
            s,
            run,
            consensus_for(run),
            origin=RunOrigin.SLACK,
            requester="U1",
            config_hash="h",
            workspace=TEAM_ID,
        )
        stored = repo.get_run(s, run_id, workspace=TEAM_ID)
        assert stored is not None
        repo.set_run_message(s, run_id, "C1", "111.000", workspace=TEAM_ID)
        repo.set_answer_message(s, stored.answers[1].id, "111.222", workspace=TEAM_ID)
    with db.session() as s:
        result = repo.get_run_by_message(s, "C1", "111.000", workspace=TEAM_ID)
        reply = repo.get_run_by_message(s, "C1", "111.222", workspace=TEAM_ID)
        other_channel = repo.get_run_by_message(s, "C2", "111.222", workspace=TEAM_ID)
        unknown = repo.get_run_by_message(s, "C1", "999.000", workspace=TEAM_ID)
    assert result is not None and result.run.id == run_id and result.answer is None
    assert result.run.message_ts == "111.000"
    assert reply is not None and reply.run.id == run_id
    assert reply.answer is not None and reply.answer.member == "beta"
    assert reply.answer.message_ts == "111.222"
    assert other_channel is None and unknown is None


def test_setting_a_message_on_a_missing_run_is_an_error(db: Database) -> None:
    with pytest.raises(StorageError, match="no panel run 404"), db.session() as s:
        repo.set_run_message(s, 404, "C1", "1.0", workspace=TEAM_ID)
    with pytest.raises(StorageError, match="no answer 404"), db.session() as s:
        repo.set_answer_message(s, 404, "1.0", workspace=TEAM_ID)


def test_shadow_answers_added_later(db: Database) -> None:
    run = panel_run()
    with db.session() as s:
        run_id = repo.save_panel_run(
            s,
            run,
            consensus_for(run),
            origin=RunOrigin.SLACK,
            requester="U1",
            config_hash="h",
            workspace=TEAM_ID,
        )
    later = T0 + timedelta(seconds=5)
    with db.session() as s:
        ids = repo.add_shadow_answers(
            s, run_id, [answer("cand", latency_ms=400)], {"cand": 0.4}, at=later, workspace=TEAM_ID
        )
    with db.session() as s:
        stored = repo.get_run(s, run_id, workspace=TEAM_ID)
    assert stored is not None
    (shadow,) = stored.shadow_answers
    assert [shadow.id] == ids
    assert (shadow.member, shadow.agreement, shadow.created_at) == ("cand", 0.4, later)
    assert len(stored.panel_answers) == 2


def test_cost_windows(db: Database) -> None:
    with db.session() as s:
        for i, user in enumerate(["U1", "U1", "U2", "U1"]):
            run = panel_run(
                [answer("alpha", cost_usd=0.01), answer("beta", cost_usd=0.02)],
                started_at=T0 + timedelta(minutes=5 * i),
            )
            repo.save_panel_run(
                s,
                run,
                consensus_for(run),
                origin=RunOrigin.SLACK,
                requester=user,
                config_hash="h",
                workspace=TEAM_ID,
            )
    with db.session() as s:
        assert repo.cost_since(s, T0, workspace=TEAM_ID) == pytest.approx(0.12)
        assert repo.cost_since(s, T0 + timedelta(minutes=11), workspace=TEAM_ID) == pytest.approx(
            0.03
        )
        assert repo.cost_since(s, T0 + timedelta(days=1), workspace=TEAM_ID) == 0.0


def test_model_stats_on_seeded_answers(db: Database) -> None:
    latencies = [100, 200, 300, 400, 1000]
    with db.session() as s:
        for i, latency in enumerate(latencies):
            answers = [
                answer("alpha", latency_ms=latency, cost_usd=0.01 * (i + 1)),
                answer("beta", latency_ms=2000, cost_usd=None)
                if i < 3
                else answer("beta", error=ErrorKind.TIMEOUT, latency_ms=30000, cost_usd=None),
            ]
            run = panel_run(answers, started_at=T0 + timedelta(minutes=i))
            repo.save_panel_run(
                s,
                run,
                consensus_for(run),
                origin=RunOrigin.SLACK,
                requester="U1",
                config_hash="h",
                shadow_answers=[answer("cand", latency_ms=50)],
                workspace=TEAM_ID,
            )
        old = panel_run([answer("alpha", latency_ms=99999)], started_at=T0 - timedelta(days=30))
        repo.save_panel_run(
            s,
            old,
            consensus_for(old),
            origin=RunOrigin.SLACK,
            requester="U1",
            config_hash="h",
            workspace=TEAM_ID,
        )
    with db.session() as s:
        stats = {
            m.member: m for m in repo.model_stats(s, T0 - timedelta(days=1), workspace=TEAM_ID)
        }
        shadow = repo.model_stats(
            s, T0 - timedelta(days=1), role=AnswerRole.SHADOW, workspace=TEAM_ID
        )
    assert set(stats) == {"alpha", "beta"}
    alpha, beta = stats["alpha"], stats["beta"]
    assert (alpha.answers, alpha.errors, alpha.error_rate) == (5, 0, 0.0)
    assert alpha.model == "openai/alpha"
    assert alpha.latency_p50_ms == pytest.approx(300.0)
    assert alpha.latency_p95_ms == pytest.approx(880.0)  # linear between 400 and 1000
    assert alpha.mean_cost_usd == pytest.approx(0.03)
    assert alpha.total_cost_usd == pytest.approx(0.15)
    assert (beta.answers, beta.errors) == (5, 2)
    assert beta.error_rate == pytest.approx(0.4)
    assert beta.latency_p50_ms == pytest.approx(2000.0)  # timeouts excluded from latency
    assert beta.mean_cost_usd is None and beta.total_cost_usd == 0.0
    assert [(m.member, m.answers) for m in shadow] == [("cand", 5)]


@pytest.mark.postgres
def test_utc_back_even_when_the_server_session_is_in_another_zone(postgres_db: Database) -> None:
    options = postgres_db.url.query["options"]
    tokyo = Database(
        postgres_db.url.update_query_dict(
            {"options": f"{options} -ctimezone=Asia/Tokyo"}
        ).render_as_string(hide_password=False)
    )
    try:
        with tokyo.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW timezone").scalar() == "Asia/Tokyo"
        run = panel_run()
        with tokyo.session() as s:
            run_id = repo.save_panel_run(
                s,
                run,
                consensus_for(run),
                origin=RunOrigin.CLI,
                requester="me",
                config_hash="h",
                workspace=TEAM_ID,
            )
        for database in (tokyo, postgres_db):
            with database.session() as s:
                stored = repo.get_run(s, run_id, workspace=TEAM_ID)
            assert stored is not None
            assert stored.created_at == T0
            assert stored.created_at.utcoffset() == timedelta(0)
    finally:
        tokyo.dispose()


def test_the_messages_and_options_the_panel_was_sent_are_kept(db: Database) -> None:
    messages = panel_messages(
        "And in winter?",
        system_prompt="Answer briefly.",
        context=[
            ChatMessage("user", "Where is it warm in May?"),
            ChatMessage("assistant", "Lisbon."),
        ],
    )
    members = [
        PanelMember("alpha", "openai/alpha", temperature=0.2, max_tokens=512),
        PanelMember("beta", "openai/beta"),
    ]
    run = replace(panel_run(question="And in winter?"), prompt=sent_prompt(messages, members))
    with db.session() as s:
        run_id = repo.save_panel_run(
            s,
            run,
            consensus_for(run),
            origin=RunOrigin.CLI,
            requester="cli",
            config_hash="c",
            workspace=TEAM_ID,
        )
        old_id = repo.save_panel_run(
            s,
            panel_run(),
            consensus_for(panel_run()),
            origin=RunOrigin.CLI,
            requester="cli",
            config_hash="c",
            workspace=TEAM_ID,
        )
    with db.session() as s:
        stored = repo.get_run(s, run_id, workspace=TEAM_ID)
        old = repo.get_run(s, old_id, workspace=TEAM_ID)
    assert stored is not None and stored.prompt == run.prompt
    assert stored.prompt.system_prompt == "Answer briefly."
    assert [m.content for m in stored.prompt.context] == ["Where is it warm in May?", "Lisbon."]
    assert stored.prompt.question == "And in winter?"
    assert stored.prompt.options["alpha"].temperature == 0.2
    assert stored.prompt.options["alpha"].max_tokens == 512
    assert stored.prompt.options["beta"].temperature is None
    assert old is not None and old.prompt is None
