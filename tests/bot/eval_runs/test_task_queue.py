"""The queue worker's own rules, without a broker: which stalled jobs go back to the
queue, and that litellm's import never holds up the event loop (and so the heartbeat)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.eval_runs.task_queue import _retry_stalled_jobs

ROOT = Path(__file__).resolve().parents[3]


@dataclass
class _Job:
    id: int


@dataclass
class _JobManager:
    stalled: list[_Job]
    retried: list[int] = field(default_factory=list)
    sweeps: int = 0
    swept_twice: asyncio.Event = field(default_factory=asyncio.Event)

    async def get_stalled_jobs(self, **_: Any) -> list[_Job]:
        self.sweeps += 1
        if self.sweeps == 3:  # the second sweep has retried what it found
            self.swept_twice.set()
        return self.stalled

    async def retry_job(self, job: _Job) -> None:
        self.retried.append(job.id)


@dataclass
class _App:
    job_manager: _JobManager


def test_a_worker_never_puts_its_own_running_jobs_back_in_the_queue() -> None:
    """After a long pause of this worker's event loop its own heartbeat is stale too; the
    jobs it is running are alive all the same and must not be run twice."""

    async def sweep_twice() -> list[int]:
        manager = _JobManager(stalled=[_Job(1), _Job(2)])
        app: Any = _App(manager)
        sweeper = asyncio.create_task(_retry_stalled_jobs(app, 0.01, 3.0, running_here={1}))
        await asyncio.wait_for(manager.swept_twice.wait(), 10)
        sweeper.cancel()
        return manager.retried

    retried = asyncio.run(sweep_twice())
    assert len(retried) >= 2 and set(retried) == {2}, retried


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
