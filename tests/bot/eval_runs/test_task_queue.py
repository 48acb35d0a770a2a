"""The queue worker's own rules, without a broker: which stalled jobs go back to the
queue, how often they are looked for, and that litellm's import never holds up the event
loop (and so the heartbeat)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.eval_runs.task_queue import retry_stalled_jobs, sweep_cron

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class _Job:
    id: int


@dataclass
class _JobManager:
    stalled: list[_Job]
    retried: list[int] = field(default_factory=list)
    asked: list[dict[str, Any]] = field(default_factory=list)

    async def get_stalled_jobs(self, **filters: Any) -> list[_Job]:
        self.asked.append(filters)
        return self.stalled

    async def retry_job(self, job: _Job) -> None:
        self.retried.append(job.id)


@dataclass
class _App:
    job_manager: _JobManager


def test_a_worker_never_puts_its_own_running_jobs_back_in_the_queue() -> None:
    """After a long pause of this worker's event loop its own heartbeat is stale too; the
    jobs it is running are alive all the same and must not be run twice."""

    async def sweep_twice() -> tuple[list[int], _JobManager]:
        manager = _JobManager(stalled=[_Job(1), _Job(2)])
        app: Any = _App(manager)
        said = [await retry_stalled_jobs(app, 3.0, running_here={1}) for _ in range(2)]
        assert said == [[2], [2]]
        return manager.retried, manager

    retried, manager = asyncio.run(sweep_twice())
    assert len(retried) >= 2 and set(retried) == {2}, retried
    # only the benchmark queue's jobs, stalled by the worker's own measure
    assert manager.asked[0] == {"queue": "quorum-benchmark", "seconds_since_heartbeat": 3.0}


@pytest.mark.parametrize(
    ("every_s", "cron"),
    [
        (0.5, "* * * * * */1"),
        (10.0, "* * * * * */10"),
        (59.5, "*/1 * * * *"),
        (300.0, "*/5 * * * *"),
        (7200.0, "*/59 * * * *"),
    ],
)
def test_stalled_jobs_are_looked_for_about_every_heartbeat(every_s: float, cron: str) -> None:
    assert sweep_cron(every_s) == cron


def test_litellm_is_imported_off_the_event_loop() -> None:
    """`quorum worker` warms the deferred client up while its heartbeat task runs: the
    loop must keep ticking through the seconds litellm's import takes."""
    script = """
import asyncio, time
from bot.runtime.adapters import DeferredModelClient

async def main():
    gaps, last = [], time.perf_counter()
    async def tick():
        nonlocal last
        while True:
            await asyncio.sleep(0.02)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    await DeferredModelClient().warm_up()
    took = time.perf_counter() - started
    ticker.cancel()
    print(f"{took:.3f} {max(gaps):.3f}")

asyncio.run(main())
"""
    env = {"PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PATH": "/usr/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    took, longest_gap = map(float, done.stdout.split()[-2:])
    assert took > 0.5  # the import did happen, in this process
    assert longest_gap < min(1.0, took / 2), (took, longest_gap)
