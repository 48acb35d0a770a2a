"""Eval runs in the database: start a run, save each sample as it finishes, finish it,
load it back as an :class:`~evals.runs.report.EvalReport`, resume it, find the previous run on
the same dataset version."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from evals.errors import InputError, StorageError
from evals.runs.report import CaseInfo, EvalReport, RunRecord, RunStatus, SampleResult
from storage.tables.base import insert_for
from storage.tables.eval_runs import EvalResultRow, EvalRunRow


@dataclass(frozen=True)
class EvalRunInfo:
    """One line of `quorum eval list`."""

    id: int
    status: RunStatus
    case_set: str
    dataset_version: str
    started_at: datetime
    finished_at: datetime | None
    total_cost_usd: float
    models: tuple[str, ...]
    samples_done: int
    sample_total: int


def start_run(
    session: Session,
    record: RunRecord,
    cases: Sequence[CaseInfo],
    *,
    workspace: str,
    sample_total: int,
) -> int:
    """Store a new run of ``workspace``'s cases in status ``running``; returns its id.

    The run's samples (:func:`save_results`) inherit its workspace: the writers and
    workers that store them hold only the id this returns."""
    row = EvalRunRow(
        workspace_id=workspace,
        status=RunStatus.RUNNING.value,
        status_reason="",
        case_set=record.case_set,
        dataset_version=record.dataset_version,
        started_at=record.started_at,
        finished_at=None,
        total_cost_usd=record.total_cost_usd,
        sample_total=sample_total,
        record=record.to_dict(),
        cases=[c.to_dict() for c in cases],
    )
    session.add(row)
    session.flush()
    return row.id


def _run(session: Session, run_id: int, workspace: str | None = None) -> EvalRunRow:
    """Run ``run_id``; with ``workspace``, only when that workspace owns it (another
    workspace's run reads exactly like one that does not exist)."""
    row = session.get(EvalRunRow, run_id)
    if row is None or (workspace is not None and row.workspace_id != workspace):
        raise InputError(f"There is no eval run {run_id}. `quorum eval list` shows the runs.")
    return row


def run_workspace(session: Session, run_id: int) -> str:
    """The workspace that owns run ``run_id``: for the task queue's workers, which are
    handed a run id by the process that started the run for that workspace."""
    return _run(session, run_id).workspace_id


def save_result(
    session: Session, run_id: int, result: SampleResult, *, now: datetime | None = None
) -> None:
    """Store one sample; a sample stored before under the same key (an errored sample
    asked again on resume) is replaced."""
    save_results(session, run_id, [result], now=now)


def save_results(
    session: Session, run_id: int, results: Sequence[SampleResult], *, now: datetime | None = None
) -> None:
    """Store samples in one statement; a sample stored before under the same key is
    replaced (INSERT ... ON CONFLICT DO UPDATE), also when another process stores the same
    key at the same moment; within ``results`` the last one wins.

    Rows are written in key order, so two transactions storing overlapping samples (a
    job retried while its first worker still runs) wait for each other instead of
    deadlocking."""
    created = now or datetime.now(UTC)
    latest = {r.key: r for r in results}
    if not latest:
        return
    workspace = session.scalar(select(EvalRunRow.workspace_id).where(EvalRunRow.id == run_id))
    if workspace is None:  # deleted while it ran: the samples have nowhere to go
        raise StorageError(f"eval run {run_id} no longer exists; its samples cannot be stored")
    rows = [_row(run_id, workspace, latest[key], created) for key in sorted(latest)]
    insert = insert_for(session, EvalResultRow)
    replaced = {name: insert.excluded[name] for name in rows[0] if name not in _SAMPLE_KEY}
    session.execute(insert.on_conflict_do_update(index_elements=_SAMPLE_KEY, set_=replaced), rows)


_SAMPLE_KEY = ["run_id", "case_id", "model", "sample"]


def _row(run_id: int, workspace: str, result: SampleResult, created_at: datetime) -> dict[str, Any]:
    verdict = result.verdict
    return {
        "workspace_id": workspace,
        "run_id": run_id,
        "case_id": result.case_id,
        "model": result.model,
        "sample": result.sample,
        "text": result.text,
        "passed": result.passed,
        "checks": [c.to_dict() for c in result.checks],
        "verdict": verdict.to_dict() if verdict else None,
        "judge_score": verdict.score if verdict else None,
        "failure_mode": verdict.failure_mode.value if verdict and verdict.failure_mode else None,
        "error": result.error,
        "error_source": result.error_source,
        "resolved_model": result.resolved_model,
        "cost_usd": result.cost_usd,
        "judge_cost_usd": result.judge_cost_usd,
        "latency_ms": result.latency_ms,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "error_kind": result.error_kind,
        "throttled": result.throttled,
        "throttle_wait_ms": result.throttle_wait_ms,
        "created_at": created_at,
    }


def finish_run(session: Session, run_id: int, report: EvalReport) -> None:
    """Record the final status and the completed reproducibility record."""
    row = _run(session, run_id)
    row.status = report.status.value
    row.status_reason = report.status_reason
    row.finished_at = report.record.finished_at
    row.total_cost_usd = report.record.total_cost_usd
    row.record = report.record.to_dict()
    session.flush()


def _to_result(row: EvalResultRow) -> SampleResult:
    return SampleResult.from_dict(
        {
            "case_id": row.case_id,
            "model": row.model,
            "sample": row.sample,
            "text": row.text,
            "passed": row.passed,
            "checks": row.checks,
            "verdict": row.verdict,
            "error": row.error,
            "error_source": row.error_source,
            "resolved_model": row.resolved_model,
            "cost_usd": row.cost_usd,
            "judge_cost_usd": row.judge_cost_usd,
            "latency_ms": row.latency_ms,
            "prompt_tokens": row.prompt_tokens,
            "completion_tokens": row.completion_tokens,
            "error_kind": row.error_kind,
            "throttled": row.throttled,
            "throttle_wait_ms": row.throttle_wait_ms,
        }
    )


def results(session: Session, run_id: int) -> list[SampleResult]:
    rows = session.scalars(
        select(EvalResultRow)
        .where(EvalResultRow.run_id == run_id)
        .order_by(EvalResultRow.sample, EvalResultRow.case_id, EvalResultRow.model)
    ).all()
    return [_to_result(r) for r in rows]


def result_count(session: Session, run_id: int) -> int:
    """How many samples of the run are stored."""
    count = session.scalar(
        select(func.count()).select_from(EvalResultRow).where(EvalResultRow.run_id == run_id)
    )
    return int(count or 0)


@dataclass(frozen=True)
class StoredProgress:
    """How far a run is, from what is stored (the runs the task queue's workers do)."""

    status: RunStatus
    stored: int  # samples stored
    errors: int  # of them, samples that errored
    cost_usd: float  # model and judge calls of the stored samples
    #: By model, the stored samples' refused requests and milliseconds waited on limits
    #: (models never throttled left out).
    limits: dict[str, tuple[int, int]] = field(default_factory=dict)


def run_progress(session: Session, run_id: int) -> StoredProgress:
    status = _run(session, run_id).status
    stored, errors, cost = session.execute(
        select(
            func.count(),
            func.count(EvalResultRow.error),
            func.coalesce(func.sum(EvalResultRow.cost_usd), 0.0)
            + func.coalesce(func.sum(EvalResultRow.judge_cost_usd), 0.0),
        ).where(EvalResultRow.run_id == run_id)
    ).one()
    throttled = session.execute(
        select(
            EvalResultRow.model,
            func.sum(EvalResultRow.throttled),
            func.sum(EvalResultRow.throttle_wait_ms),
        )
        .where(EvalResultRow.run_id == run_id)
        .where((EvalResultRow.throttled > 0) | (EvalResultRow.throttle_wait_ms > 0))
        .group_by(EvalResultRow.model)
        .order_by(EvalResultRow.model)
    ).all()
    limits = {model: (int(n or 0), int(ms or 0)) for model, n, ms in throttled}
    return StoredProgress(RunStatus(status), int(stored), int(errors), float(cost or 0.0), limits)


def resumable_results(session: Session, run_id: int) -> list[SampleResult]:
    """What a resume keeps: every sample that got an answer (paid for). Samples whose
    model call failed are asked again."""
    return [r for r in results(session, run_id) if r.error_source != "model"]


def load_report(session: Session, run_id: int, *, workspace: str) -> EvalReport:
    row = _run(session, run_id, workspace)
    return EvalReport(
        record=RunRecord.from_dict(row.record),
        status=RunStatus(row.status),
        status_reason=row.status_reason,
        cases=tuple(CaseInfo.from_dict(c) for c in row.cases),
        results=tuple(results(session, run_id)),
        run_id=row.id,
    )


def load_record(
    session: Session, run_id: int, *, workspace: str
) -> tuple[RunRecord, RunStatus, list[CaseInfo]]:
    row = _run(session, run_id, workspace)
    cases = [CaseInfo.from_dict(c) for c in row.cases]
    return RunRecord.from_dict(row.record), RunStatus(row.status), cases


def previous_run_id(session: Session, run_id: int, *, workspace: str) -> int | None:
    """The workspace's latest earlier run on the same case set and dataset version that
    finished (complete or partial; invalid runs are not a baseline)."""
    row = _run(session, run_id, workspace)
    return session.scalar(
        select(EvalRunRow.id)
        .where(
            EvalRunRow.workspace_id == workspace,
            EvalRunRow.id != row.id,
            EvalRunRow.dataset_version == row.dataset_version,
            EvalRunRow.case_set == row.case_set,
            EvalRunRow.started_at < row.started_at,
            EvalRunRow.status.in_([RunStatus.COMPLETE.value, RunStatus.PARTIAL.value]),
        )
        .order_by(EvalRunRow.started_at.desc(), EvalRunRow.id.desc())
        .limit(1)
    )


def list_runs(session: Session, *, workspace: str, limit: int = 20) -> list[EvalRunInfo]:
    """``workspace``'s most recent runs first."""
    done = (
        select(EvalResultRow.run_id, func.count().label("n"))
        .group_by(EvalResultRow.run_id)
        .subquery()
    )
    rows = session.execute(
        select(EvalRunRow, func.coalesce(done.c.n, 0))
        .outerjoin(done, done.c.run_id == EvalRunRow.id)
        .where(EvalRunRow.workspace_id == workspace)
        .order_by(EvalRunRow.started_at.desc(), EvalRunRow.id.desc())
        .limit(limit)
    ).all()
    return [
        EvalRunInfo(
            id=run.id,
            status=RunStatus(run.status),
            case_set=run.case_set,
            dataset_version=run.dataset_version,
            started_at=run.started_at,
            finished_at=run.finished_at,
            total_cost_usd=run.total_cost_usd,
            models=tuple(m["name"] for m in run.record.get("models", ())),
            samples_done=int(n),
            sample_total=run.sample_total,
        )
        for run, n in rows
    ]
