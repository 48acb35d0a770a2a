"""The benchmark's result writer: results arriving together share one transaction, and
closing stores everything handed over without waiting out the linger."""

from __future__ import annotations

import time

from bot.eval_runs.writer import ResultWriter
from evals.protocols import SystemClock
from storage import eval_repo
from storage.db import Database
from tests.fakes.slack_requests import TEAM_ID
from tests.storage.test_eval_repo import CASES, record, sample


def _run(db: Database) -> int:
    with db.session() as s:
        return eval_repo.start_run(s, record(), CASES, sample_total=100, workspace=TEAM_ID)


def test_results_arriving_together_are_stored_in_one_transaction(db: Database) -> None:
    run_id = _run(db)
    writer = ResultWriter(db, run_id, SystemClock(), linger_s=60.0)
    started = time.monotonic()
    for i in range(50):
        writer.put(sample("c1", "fast", True, sample=i))
    writer.close()
    assert time.monotonic() - started < 30  # close() did not wait out the 60 s linger
    assert writer.batches == 1
    with db.session() as s:
        assert len(eval_repo.results(s, run_id)) == 50


def test_a_full_batch_is_stored_without_waiting_for_the_linger(db: Database) -> None:
    run_id = _run(db)
    writer = ResultWriter(db, run_id, SystemClock(), max_batch=10, linger_s=60.0)
    for i in range(25):
        writer.put(sample("c1", "fast", True, sample=i))
    deadline = time.monotonic() + 30
    while writer.batches < 2:  # two full batches go before close(); the rest with it
        assert time.monotonic() < deadline, "full batches waited for the linger"
        time.sleep(0.01)
    writer.close()
    assert writer.batches == 3
    with db.session() as s:
        assert len(eval_repo.results(s, run_id)) == 25
