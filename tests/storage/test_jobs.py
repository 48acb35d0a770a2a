"""Exactly-once job periods: the database decides, across processes, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from storage import job_repo
from storage.db import Database
from storage.tables.jobs import JobStatus
from tests.fakes.slack_requests import TEAM_ID

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.fixture
def other(db: Database) -> Iterator[Database]:
    """A second process's handle on the same database."""
    second = Database(db.url.render_as_string(hide_password=False))
    yield second
    second.dispose()


def test_only_one_process_claims_a_period(db: Database, other: Database) -> None:
    assert job_repo.claim_period(db, "digest", "2026-W48", now=NOW, owner="bot", workspace=TEAM_ID)
    assert not job_repo.claim_period(
        other, "digest", "2026-W48", now=NOW, owner="clock", workspace=TEAM_ID
    )
    assert not job_repo.claim_period(
        db, "digest", "2026-W48", now=NOW, owner="bot", workspace=TEAM_ID
    )
    # Other periods and other jobs are independent.
    assert job_repo.claim_period(
        other, "digest", "2026-W49", now=NOW, owner="clock", workspace=TEAM_ID
    )
    assert job_repo.claim_period(
        other, "benchmark", "2026-W48", now=NOW, owner="clock", workspace=TEAM_ID
    )
    run = job_repo.get_period(other, "digest", "2026-W48", workspace=TEAM_ID)
    assert run is not None
    assert (run.status, run.attempts, run.started_at) == (JobStatus.RUNNING, 1, NOW)


def test_racing_processes_claim_exactly_once(db: Database) -> None:
    url = db.url.render_as_string(hide_password=False)
    handles = [Database(url) for _ in range(6)]
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            wins = list(
                pool.map(
                    lambda h: job_repo.claim_period(
                        h, "benchmark", "2026-W47", now=NOW, workspace=TEAM_ID
                    ),
                    handles,
                )
            )
    finally:
        for h in handles:
            h.dispose()
    assert wins.count(True) == 1
    assert len(job_repo.job_periods(db, job="benchmark", workspace=TEAM_ID)) == 1


def test_a_done_period_is_never_claimed_again(db: Database, other: Database) -> None:
    assert job_repo.claim_period(db, "digest", "2026-W48", now=NOW, workspace=TEAM_ID)
    job_repo.mark_done(
        db, "digest", "2026-W48", now=NOW + timedelta(minutes=1), detail="ts=1.2", workspace=TEAM_ID
    )
    later = NOW + timedelta(days=2)
    assert not job_repo.claim_period(other, "digest", "2026-W48", now=later, workspace=TEAM_ID)
    run = job_repo.get_period(other, "digest", "2026-W48", workspace=TEAM_ID)
    assert run is not None
    assert (run.status, run.detail) == (JobStatus.DONE, "ts=1.2")
    assert run.finished_at == NOW + timedelta(minutes=1)


def test_a_failed_period_is_retried_up_to_the_attempt_limit(db: Database, other: Database) -> None:
    assert job_repo.claim_period(db, "benchmark", "w", now=NOW, max_attempts=2, workspace=TEAM_ID)
    job_repo.mark_failed(db, "benchmark", "w", now=NOW, detail="provider down", workspace=TEAM_ID)
    assert job_repo.claim_period(
        other, "benchmark", "w", now=NOW, max_attempts=2, workspace=TEAM_ID
    )
    assert not job_repo.claim_period(
        db, "benchmark", "w", now=NOW, max_attempts=2, workspace=TEAM_ID
    )
    job_repo.mark_failed(other, "benchmark", "w", now=NOW, workspace=TEAM_ID)
    assert not job_repo.claim_period(
        db, "benchmark", "w", now=NOW, max_attempts=2, workspace=TEAM_ID
    )
    run = job_repo.get_period(db, "benchmark", "w", workspace=TEAM_ID)
    assert run is not None and (run.status, run.attempts) == (JobStatus.FAILED, 2)


def test_a_run_whose_process_died_is_taken_over_once_stale(db: Database, other: Database) -> None:
    stale = timedelta(hours=3)
    assert job_repo.claim_period(db, "digest", "w", now=NOW, stale_after=stale, workspace=TEAM_ID)
    soon = NOW + timedelta(hours=1)
    assert not job_repo.claim_period(
        other, "digest", "w", now=soon, stale_after=stale, workspace=TEAM_ID
    )
    late = NOW + timedelta(hours=4)
    assert job_repo.claim_period(
        other, "digest", "w", now=late, stale_after=stale, workspace=TEAM_ID
    )
    assert not job_repo.claim_period(
        db, "digest", "w", now=late, stale_after=stale, workspace=TEAM_ID
    )


def test_force_claims_whatever_the_state(db: Database) -> None:
    job_repo.force_claim(db, "digest", "w", now=NOW, owner="cli", workspace=TEAM_ID)
    job_repo.mark_done(db, "digest", "w", now=NOW, workspace=TEAM_ID)
    job_repo.force_claim(db, "digest", "w", now=NOW, owner="cli", workspace=TEAM_ID)
    run = job_repo.get_period(db, "digest", "w", workspace=TEAM_ID)
    assert run is not None and (run.status, run.attempts) == (JobStatus.RUNNING, 2)


def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="naive"):
        job_repo.claim_period(db, "digest", "w", now=datetime(2026, 1, 1), workspace=TEAM_ID)


def test_calibrators_keep_one_active(db: Database, other: Database) -> None:
    assert job_repo.active_calibrator(db, workspace=TEAM_ID) is None
    job_repo.save_calibrator(
        db,
        calibrator_id="shipped-1",
        json_text='{"kind": "shipped"}',
        created_at=NOW,
        source="shipped",
        n_labels=0,
        metrics={},
        active=True,
        workspace=TEAM_ID,
    )
    job_repo.save_calibrator(
        other,
        calibrator_id="refit-2",
        json_text='{"kind": "refit"}',
        created_at=NOW + timedelta(days=7),
        source="refit",
        n_labels=60,
        metrics={"brier_new": 0.12, "brier_old": 0.2},
        active=True,
        workspace=TEAM_ID,
    )
    active = job_repo.active_calibrator(db, workspace=TEAM_ID)
    assert active is not None
    assert (active.id, active.n_labels, active.metrics["brier_new"]) == ("refit-2", 60, 0.12)
    assert [(c.id, c.active) for c in job_repo.calibrators(db, workspace=TEAM_ID)] == [
        ("shipped-1", False),
        ("refit-2", True),
    ]
