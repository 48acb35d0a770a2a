"""bot/runtime/gc_pause.py: the cyclic collector pauses while a command starts, and a heap is only
ever frozen in a process that runs one command and exits."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.runtime import gc_pause

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def collector() -> Iterator[None]:
    """Leaves this test process's collector as it found it."""
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    if enabled:
        gc.enable()


def test_the_collector_pauses_inside_and_resumes_after(collector: None) -> None:
    frozen = gc.get_freeze_count()
    with gc_pause.start_up():
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen  # this test process never claimed itself


def test_it_resumes_after_an_error_too(collector: None) -> None:
    with pytest.raises(RuntimeError), gc_pause.start_up():
        raise RuntimeError("planning failed")
    assert gc.isenabled()


def test_a_paused_collector_stays_paused(collector: None) -> None:
    gc.disable()
    with gc_pause.start_up():
        pass
    assert not gc.isenabled()


def test_only_a_claimed_process_freezes_what_it_made() -> None:
    code = """
import gc
from bot.runtime import gc_pause
keep = [[i] for i in range(1000)]
with gc_pause.start_up():
    made = [[i] for i in range(1000)]
print(gc.get_freeze_count(), gc.isenabled())
gc_pause.claim_process()
with gc_pause.start_up():
    made = [[i] for i in range(1000)]
print(gc.get_freeze_count() >= 2000, gc.isenabled())
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["0 True", "True True"]


def test_workers_come_from_a_paused_forkserver_and_run_with_the_collector_on(
    tmp_path: Path,
) -> None:
    code = """
import gc, os
from bot.eval_runs.forkserver import context
from bot.eval_runs.worker_processes import become_worker

def probe(queue, worker):
    if worker:
        become_worker(dict(os.environ))
    queue.put((gc.isenabled(), gc.get_freeze_count() > 0))

if __name__ == "__main__":
    ctx = context(with_litellm=False)
    for worker in (False, True):
        queue = ctx.Queue()
        child = ctx.Process(target=probe, args=(queue, worker))
        child.start()
        print(queue.get(timeout=60))
        child.join(10)
    print(gc.isenabled())
"""
    script = tmp_path / "probe.py"
    script.write_text(code, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    # forked as is: paused, nothing frozen; as a worker: collecting, the inherited frozen;
    # the parent untouched.
    assert done.stdout.split("\n")[:3] == ["(False, False)", "(True, True)", "True"]
