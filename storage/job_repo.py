"""Exactly-once job periods and stored calibrators.

The database decides who runs a job for a period: :func:`claim_period` inserts the
``(workspace, job, period)`` row in its own transaction and the unique key lets exactly one
process win, on SQLite and PostgreSQL alike. A failed run may be claimed again (up to
``max_attempts``), and so may a run whose process died (``running`` for longer than
``stale_after``); both take-overs are a conditional UPDATE, so only one process wins
those too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.tables.jobs import CalibratorRow, JobPeriodRow, JobStatus

DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_STALE_AFTER = timedelta(hours=3)
MAX_DETAIL_CHARS = 2000


@dataclass(frozen=True)
class JobPeriod:
    """One scheduled job in one period (an ISO week, ...): who claimed it and how it went.
    The table keeps its first name, ``job_runs``; a "run" in Quorum is a panel run."""

    job: str
    period: str
    status: JobStatus
    attempts: int
    started_at: datetime
    finished_at: datetime | None
    scheduled_for: datetime | None
    detail: str | None


@dataclass(frozen=True)
class StoredCalibrator:
    workspace: str
    id: str
    json: str
    created_at: datetime
    source: str
    n_labels: int
    metrics: dict[str, Any]
    active: bool


def _require_utc(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("naive datetime; use datetime.now(UTC)")


def claim_period(
    db: Database,
    job: str,
    period: str,
    *,
    workspace: str,
    now: datetime,
    owner: str | None = None,
    scheduled_for: datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> bool:
    """Try to become the one process that runs ``job`` for ``period``. True if we won."""
    _require_utc(now)
    try:
        with db.engine.begin() as conn:
            conn.execute(
                insert(JobPeriodRow).values(
                    workspace_id=workspace,
                    job=job,
                    period=period,
                    status=JobStatus.RUNNING.value,
                    attempts=1,
                    owner=owner,
                    scheduled_for=scheduled_for,
                    started_at=now,
                )
            )
        return True
    except IntegrityError:
        pass
    # Someone has the row. Take it over only if that run failed or its process died.
    with db.engine.begin() as conn:
        result = conn.execute(
            update(JobPeriodRow)
            .where(
                JobPeriodRow.workspace_id == workspace,
                JobPeriodRow.job == job,
                JobPeriodRow.period == period,
                or_(
                    and_(
                        JobPeriodRow.status == JobStatus.FAILED.value,
                        JobPeriodRow.attempts < max_attempts,
                    ),
                    and_(
                        JobPeriodRow.status == JobStatus.RUNNING.value,
                        JobPeriodRow.started_at < now - stale_after,
                    ),
                ),
            )
            .values(
                status=JobStatus.RUNNING.value,
                attempts=JobPeriodRow.attempts + 1,
                owner=owner,
                started_at=now,
                finished_at=None,
            )
        )
        return bool(result.rowcount == 1)


def force_claim(
    db: Database, job: str, period: str, *, workspace: str, now: datetime, owner: str | None
) -> None:
    """Claim ``period`` whatever its state (``--force``): the row records one more attempt."""
    if claim_period(db, job, period, workspace=workspace, now=now, owner=owner):
        return
    with db.engine.begin() as conn:
        conn.execute(
            update(JobPeriodRow)
            .where(_key(workspace, job, period))
            .values(
                status=JobStatus.RUNNING.value,
                attempts=JobPeriodRow.attempts + 1,
                owner=owner,
                started_at=now,
                finished_at=None,
            )
        )


def _key(workspace: str, job: str, period: str) -> ColumnElement[bool]:
    return and_(
        JobPeriodRow.workspace_id == workspace,
        JobPeriodRow.job == job,
        JobPeriodRow.period == period,
    )


def _finish(
    db: Database,
    workspace: str,
    job: str,
    period: str,
    status: JobStatus,
    now: datetime,
    detail: str,
) -> None:
    _require_utc(now)
    with db.engine.begin() as conn:
        conn.execute(
            update(JobPeriodRow)
            .where(_key(workspace, job, period))
            .values(status=status.value, finished_at=now, detail=detail[:MAX_DETAIL_CHARS])
        )


def mark_done(
    db: Database, job: str, period: str, *, workspace: str, now: datetime, detail: str = ""
) -> None:
    _finish(db, workspace, job, period, JobStatus.DONE, now, detail)


def mark_failed(
    db: Database, job: str, period: str, *, workspace: str, now: datetime, detail: str = ""
) -> None:
    _finish(db, workspace, job, period, JobStatus.FAILED, now, detail)


def mark_missed(
    db: Database,
    job: str,
    period: str,
    *,
    workspace: str,
    now: datetime,
    scheduled_for: datetime | None = None,
    detail: str = "",
) -> bool:
    """Record that ``period`` was skipped (its grace window passed). False if the period
    already has a row (it ran, or someone else recorded the miss)."""
    _require_utc(now)
    try:
        with db.engine.begin() as conn:
            conn.execute(
                insert(JobPeriodRow).values(
                    workspace_id=workspace,
                    job=job,
                    period=period,
                    status=JobStatus.MISSED.value,
                    attempts=0,
                    scheduled_for=scheduled_for,
                    started_at=now,
                    finished_at=now,
                    detail=detail[:MAX_DETAIL_CHARS],
                )
            )
        return True
    except IntegrityError:
        return False


def _to_period(row: JobPeriodRow) -> JobPeriod:
    return JobPeriod(
        job=row.job,
        period=row.period,
        status=JobStatus(row.status),
        attempts=row.attempts,
        started_at=row.started_at,
        finished_at=row.finished_at,
        scheduled_for=row.scheduled_for,
        detail=row.detail,
    )


def get_period(db: Database, job: str, period: str, *, workspace: str) -> JobPeriod | None:
    with db.session() as session:
        row = session.scalars(
            select(JobPeriodRow).where(_key(workspace, job, period))
        ).one_or_none()
        return _to_period(row) if row else None


def latest_period(db: Database, job: str, *, workspace: str) -> JobPeriod | None:
    """The job's most recently started run for ``workspace`` (any status)."""
    with db.session() as session:
        row = session.scalars(
            select(JobPeriodRow)
            .where(JobPeriodRow.workspace_id == workspace, JobPeriodRow.job == job)
            .order_by(JobPeriodRow.started_at.desc(), JobPeriodRow.id.desc())
            .limit(1)
        ).one_or_none()
        return _to_period(row) if row else None


def job_periods(db: Database, *, workspace: str, job: str | None = None) -> list[JobPeriod]:
    with db.session() as session:
        query = (
            select(JobPeriodRow)
            .where(JobPeriodRow.workspace_id == workspace)
            .order_by(JobPeriodRow.started_at, JobPeriodRow.id)
        )
        if job is not None:
            query = query.where(JobPeriodRow.job == job)
        return [_to_period(r) for r in session.scalars(query)]


# -- calibrators -------------------------------------------------------------------------


def _to_calibrator(row: CalibratorRow) -> StoredCalibrator:
    return StoredCalibrator(
        workspace=row.workspace_id,
        id=row.id,
        json=row.json,
        created_at=row.created_at,
        source=row.source,
        n_labels=row.n_labels,
        metrics=dict(row.metrics or {}),
        active=row.active,
    )


def save_calibrator(
    db: Database,
    *,
    workspace: str,
    calibrator_id: str,
    json_text: str,
    created_at: datetime,
    source: str,
    n_labels: int,
    metrics: dict[str, Any],
    active: bool,
) -> None:
    """Store a calibrator of ``workspace`` (idempotent on its id); ``active=True`` makes it
    the workspace's only active one."""
    _require_utc(created_at)
    with db.session() as session:
        row = session.get(CalibratorRow, (workspace, calibrator_id))
        if row is None:
            row = CalibratorRow(
                workspace_id=workspace,
                id=calibrator_id,
                json=json_text,
                created_at=created_at,
                source=source,
                n_labels=n_labels,
                metrics=metrics,
                active=False,
            )
            session.add(row)
        else:
            row.metrics = metrics
        if active:
            session.execute(
                update(CalibratorRow)
                .where(CalibratorRow.workspace_id == workspace, CalibratorRow.id != calibrator_id)
                .values(active=False)
            )
            row.active = True


def active_calibrator(db: Database, *, workspace: str) -> StoredCalibrator | None:
    with db.session() as session:
        row = session.scalars(
            select(CalibratorRow)
            .where(CalibratorRow.workspace_id == workspace, CalibratorRow.active.is_(True))
            .order_by(CalibratorRow.created_at.desc())
            .limit(1)
        ).first()
        return _to_calibrator(row) if row else None


def active_calibrators(db: Database) -> dict[str, StoredCalibrator]:
    """Each workspace's active calibrator (what every process serves it), by workspace."""
    with db.session() as session:
        rows = session.scalars(
            select(CalibratorRow)
            .where(CalibratorRow.active.is_(True))
            .order_by(CalibratorRow.created_at)
        )
        return {r.workspace_id: _to_calibrator(r) for r in rows}


def calibrators(db: Database, *, workspace: str) -> list[StoredCalibrator]:
    with db.session() as session:
        rows = session.scalars(
            select(CalibratorRow)
            .where(CalibratorRow.workspace_id == workspace)
            .order_by(CalibratorRow.created_at)
        )
        return [_to_calibrator(r) for r in rows]
