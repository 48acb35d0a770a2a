"""Eval runs and results in the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from evals.cases.schema import FailureMode, Severity
from evals.errors import InputError
from evals.runs.report import (
    CaseInfo,
    EvalReport,
    ModelRecord,
    RunRecord,
    RunStatus,
    SampleResult,
)
from evals.scorers.checks import CheckResult
from evals.scorers.judge import JudgeVerdict
from storage import eval_repo, labels_repo
from storage.db import Database
from storage.panel_runs_repo import save_panel_run
from storage.records import CorrectionSource, RunOrigin, SignalKind, SignalSource
from storage.signals_repo import record_correction, record_signal
from storage.tables.panel_runs import AnswerRow
from tests.fakes.slack_requests import TEAM_ID
from tests.storage.factories import answer, consensus_for, panel_run

T0 = datetime(2026, 11, 1, 22, 0, tzinfo=UTC)
CASES = (
    CaseInfo(id="c1", question="Capital of France?", expected="Paris", category="geo"),
    CaseInfo(id="c2", question="2+2?", severity="high"),
)


def record(version: str = "v1", started: datetime = T0) -> RunRecord:
    return RunRecord(
        case_set="golden",
        dataset_version=version,
        case_count=2,
        models=(ModelRecord("fast", "openai/fast"), ModelRecord("slow", "openai/slow")),
        system_prompt="Be brief.",
        prompt_template="t",
        prompt_hash="h" * 64,
        temperature=0.2,
        top_p=None,
        max_tokens=256,
        samples=1,
        judge_model="openai/judge",
        judge_prompt_hash="j" * 64,
        rubric_version="quorum-rubric-1",
        scorer_settings={"judge_min_score": 4},
        quorum_version="0.1.0",
        git_commit="abc",
        started_at=started,
    )


def sample(case: str, model: str, passed: bool | None, **kw: object) -> SampleResult:
    base = SampleResult(
        case_id=case,
        model=model,
        sample=0,
        text=f"{model} on {case}",
        passed=passed,
        checks=(CheckResult("must_include", bool(passed), 1.0, "d"),),
        verdict=JudgeVerdict(
            5 if passed else 2, bool(passed), "r", None if passed else FailureMode.WRONG_FACT, 0.001
        ),
        cost_usd=0.01,
        judge_cost_usd=0.001,
        latency_ms=120,
        prompt_tokens=10,
        completion_tokens=3,
        resolved_model=f"{model}-2026",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def store(db: Database, rec: RunRecord, outcomes: dict[tuple[str, str], bool]) -> int:
    with db.session() as s:
        run_id = eval_repo.start_run(s, rec, CASES, sample_total=len(outcomes), workspace=TEAM_ID)
        for (case, model), ok in outcomes.items():
            eval_repo.save_result(s, run_id, sample(case, model, ok))
    return run_id


def test_a_run_round_trips_with_its_record_and_every_sample(db: Database) -> None:
    rec = record()
    run_id = store(db, rec, {("c1", "fast"): True, ("c2", "slow"): False})
    with db.session() as s:
        running = eval_repo.load_report(s, run_id, workspace=TEAM_ID)
    assert running.status is RunStatus.RUNNING and running.run_id == run_id
    assert running.record == rec and running.cases == CASES
    by_key = {r.key: r for r in running.results}
    assert by_key[("c1", "fast", 0)] == sample("c1", "fast", True)
    assert by_key[("c2", "slow", 0)].verdict == sample("c2", "slow", False).verdict

    final = replace(rec, finished_at=T0 + timedelta(minutes=5), total_cost_usd=0.022)
    report = EvalReport(final, RunStatus.PARTIAL, "stopped at the budget", CASES, ())
    with db.session() as s:
        eval_repo.finish_run(s, run_id, report)
    with db.session() as s:
        done = eval_repo.load_report(s, run_id, workspace=TEAM_ID)
    assert done.status is RunStatus.PARTIAL and done.status_reason == "stopped at the budget"
    assert done.record.finished_at == T0 + timedelta(minutes=5)
    assert done.record.started_at.tzinfo is not None


def test_resume_keeps_paid_samples_and_replaces_errored_ones(db: Database) -> None:
    run_id = store(db, record(), {("c1", "fast"): True})
    failed = sample(
        "c2", "fast", None, error="fast did not answer in time", error_source="model", text=""
    )
    judge_failed = sample("c2", "slow", None, error="judge failed", error_source="judge")
    with db.session() as s:
        eval_repo.save_result(s, run_id, failed)
        eval_repo.save_result(s, run_id, judge_failed)
    with db.session() as s:
        keep = {r.key for r in eval_repo.resumable_results(s, run_id)}
    # The model error was not paid for: it is asked again. The judge error was.
    assert keep == {("c1", "fast", 0), ("c2", "slow", 0)}
    with db.session() as s:
        eval_repo.save_result(s, run_id, sample("c2", "fast", True))
    with db.session() as s:
        rows = eval_repo.results(s, run_id)
    assert len(rows) == 3
    assert next(r for r in rows if r.key == ("c2", "fast", 0)).passed is True


def test_samples_keep_their_error_kind_and_what_rate_limits_cost(db: Database) -> None:
    run_id = store(db, record(), {})
    late = sample(
        "c1",
        "fast",
        None,
        error="fast was still rate limited when the run's deadline passed",
        error_source="model",
        error_kind="deadline",
        throttled=7,
        throttle_wait_ms=61_500,
    )
    with db.session() as s:
        eval_repo.save_results(s, run_id, [late, sample("c2", "fast", True, throttled=2)])
        eval_repo.save_result(s, run_id, sample("c1", "slow", True))
    with db.session() as s:
        stored = {r.key: r for r in eval_repo.results(s, run_id)}
        progress = eval_repo.run_progress(s, run_id)
    assert stored[("c1", "fast", 0)] == late
    assert stored[("c1", "slow", 0)].throttled == 0
    # what `eval run --queue` shows while workers run it: by model, only the throttled
    assert progress.limits == {"fast": (9, 61_500)}


def test_previous_run_is_the_latest_finished_one_on_the_same_dataset(db: Database) -> None:
    first = store(db, record(started=T0), {("c1", "fast"): True})
    second = store(db, record(started=T0 + timedelta(days=7)), {("c1", "fast"): True})
    other = store(db, record("v2", T0 + timedelta(days=8)), {("c1", "fast"): True})
    third = store(db, record(started=T0 + timedelta(days=14)), {("c1", "fast"): False})
    with db.session() as s:
        for run_id in (first, second):
            report = eval_repo.load_report(s, run_id, workspace=TEAM_ID)
            eval_repo.finish_run(s, run_id, replace(report, status=RunStatus.COMPLETE))
    with db.session() as s:
        assert eval_repo.previous_run_id(s, third, workspace=TEAM_ID) == second
        assert eval_repo.previous_run_id(s, first, workspace=TEAM_ID) is None
        assert eval_repo.previous_run_id(s, other, workspace=TEAM_ID) is None
    with db.session() as s:
        runs = eval_repo.list_runs(s, workspace=TEAM_ID)
    assert [r.id for r in runs] == [third, other, second, first]
    assert runs[0].models == ("fast", "slow") and runs[0].samples_done == 1


def test_an_unknown_run_is_a_friendly_error(db: Database) -> None:
    with db.session() as s, pytest.raises(InputError, match="no eval run 999"):
        eval_repo.load_report(s, 999, workspace=TEAM_ID)


def test_labelled_answers_for_judge_calibration(db: Database) -> None:
    UP, REACTION = SignalKind.UP, SignalSource.REACTION
    with db.session() as s:
        liked = save_panel_run(
            s,
            (r := panel_run()),
            consensus_for(r),
            origin=RunOrigin.CLI,
            requester="u",
            config_hash="h",
            workspace=TEAM_ID,
        )
        corrected = save_panel_run(
            s,
            (r2 := panel_run([answer("alpha", "Berlin"), answer("beta", "Paris")], question="Q2")),
            consensus_for(r2),
            origin=RunOrigin.CLI,
            requester="u",
            config_hash="h",
            workspace=TEAM_ID,
        )
        tied = save_panel_run(
            s, (r3 := panel_run(question="Q3")), consensus_for(r3), origin=RunOrigin.CLI, requester="u",
            config_hash="h", workspace=TEAM_ID
        )  # fmt: skip
        beta = s.scalar(
            select(AnswerRow.id).where(AnswerRow.run_id == corrected, AnswerRow.member == "beta")
        )
        record_signal(s, run_id=liked, user_id="a", kind=UP, source=REACTION, workspace=TEAM_ID)
        record_signal(s, run_id=liked, user_id="b", kind=UP, source=REACTION, workspace=TEAM_ID)
        record_signal(
            s, run_id=liked, user_id="c", kind=SignalKind.FLAG, source=REACTION, workspace=TEAM_ID
        )
        record_correction(
            s, run_id=corrected, user_id="a", correct_answer="Paris", failure_mode=FailureMode.WRONG_FACT,
            severity=Severity.HIGH, source=CorrectionSource.MODAL, workspace=TEAM_ID
        )  # fmt: skip
        record_signal(
            s,
            run_id=corrected,
            answer_id=beta,
            user_id="a",
            kind=UP,
            source=SignalSource.BUTTON,
            workspace=TEAM_ID,
        )
        record_signal(s, run_id=tied, user_id="a", kind=UP, source=REACTION, workspace=TEAM_ID)
        record_signal(
            s, run_id=tied, user_id="b", kind=SignalKind.DOWN, source=REACTION, workspace=TEAM_ID
        )
    with db.session() as s:
        labels = labels_repo.labelled_answers(s, workspace=TEAM_ID)
    got = {(x.question, x.answer, x.passed, x.expected) for x in labels}
    assert got == {
        ("What is the capital of France?", "Paris is the capital of France.", True, None),
        ("Q2", "Berlin", False, "Paris"),  # the consensus (alpha) answer, corrected
        ("Q2", "Paris", True, None),  # beta's own answer, liked
    }


@pytest.mark.postgres
def test_two_processes_storing_overlapping_samples_wait_instead_of_deadlocking(
    postgres_db: Database,
) -> None:
    """A queue job retried while its first worker still runs stores the same samples
    twice at once, in whatever order each worker received them. Rows go in key order, so
    one transaction waits for the other: no deadlock, every sample stored once."""
    cases = tuple(CaseInfo(id=f"k{i:03d}", question="?") for i in range(150))
    with postgres_db.session() as s:
        run_id = eval_repo.start_run(s, record(), cases, sample_total=len(cases), workspace=TEAM_ID)
    batch = [sample(c.id, "fast", True) for c in cases]
    orders = (batch, batch[::-1])
    errors: list[BaseException] = []

    def store_in(order: list[SampleResult], barrier: threading.Barrier) -> None:
        try:
            barrier.wait()
            with postgres_db.session() as s:
                eval_repo.save_results(s, run_id, order)
        except BaseException as exc:
            errors.append(exc)

    for _ in range(10):
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=store_in, args=(o, barrier)) for o in orders]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors[0]
    with postgres_db.session() as s:
        assert len(eval_repo.results(s, run_id)) == len(cases)
