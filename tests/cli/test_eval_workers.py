"""`quorum eval run --workers N`: the run's items asked by worker processes, end to end
against the fake OpenAI-compatible server, with the results, budget stop, resume and
Ctrl-C behaviour of a run in one process, and a killed worker's items finished by the
others."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_eval_cli import Env, judge_reply
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(
    tmp_path: Path, fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Env]:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QUORUM_CONFIG", str(tmp_path / "quorum.yaml"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/quorum.db")
    fake_openai.script("good", reply="Paris", latency=0.05)
    fake_openai.script("bad", reply="Berlin", latency=0.05)
    fake_openai.script("judge", reply=judge_reply)
    e = Env(tmp_path, fake_openai)
    e.write_config()
    e.add_cases()
    yield e


def _comparable(report: Any) -> list[dict[str, Any]]:
    """What a run stored per sample, less what differs between any two runs."""
    return [{k: v for k, v in r.to_dict().items() if k != "latency_ms"} for r in report.results]


def _summary(stdout: str) -> list[dict[str, Any]]:
    """What `--json` printed per model, less the latencies."""
    models = json.loads(stdout)["models"]
    return [{k: v for k, v in m.items() if not k.startswith("latency")} for m in models]


def _worker_children() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.name.startswith("quorum-eval")]


def test_two_workers_store_what_one_process_stores(env: Env) -> None:
    seen_workers: set[int] = set()

    def good(messages: list[dict[str, Any]]) -> str:
        seen_workers.update(p.pid for p in _worker_children() if p.pid)
        return "Paris"

    env.server.script("good", reply=good)
    one = env.invoke("eval", "run", "--samples", "2", "--workers", "1", "--json")
    assert one.exit_code == 0, one.output
    assert not seen_workers  # one worker: the run stays in this process
    two = env.invoke("eval", "run", "--samples", "2", "--workers", "2", "--json")
    assert two.exit_code == 0, two.output
    assert len(seen_workers) == 2

    first, second = env.report(1), env.report(2)
    assert second.status.value == "complete" and len(second.results) == 16
    assert _comparable(second) == _comparable(first)  # scores, judge verdicts, costs
    assert _summary(two.stdout) == _summary(one.stdout)
    assert env.server.calls("good") == env.server.calls("bad") == 16
    assert env.server.calls("judge") == 32
    assert not _worker_children()  # every worker stopped with the run


def test_the_budget_is_one_budget_across_workers(env: Env) -> None:
    # 2 models x 4 cases x 4 samples = 32 items; each answer costs ~$0.012 here.
    args = ["eval", "run", "--no-judge", "--samples", "4", "--max-cost", "0.1"]
    stopped = env.invoke(*args, "--workers", "2", "--concurrency", "4")
    assert stopped.exit_code == 3, stopped.output
    assert "PARTIAL" in stopped.stdout and "budget" in stopped.stdout
    report = env.report(1)
    per_call = max(r.total_cost for r in report.results)
    # Spent: at most the budget plus the calls that were in flight when it was reached,
    # never a budget per worker.
    assert report.record.total_cost_usd <= 0.1 + 4 * per_call
    assert len(report.results) == env.server.calls() < 16

    resumed = env.invoke("eval", "run", "--resume", "1", "--max-cost", "100", "--workers", "2")
    assert resumed.exit_code == 0, resumed.output
    # Every item asked exactly once across both parts, stored exactly once.
    assert env.server.calls("good") == env.server.calls("bad") == 16
    finished = env.report(1)
    assert finished.status.value == "complete" and len(finished.results) == 32
    assert len({r.key for r in finished.results}) == 32


def test_a_killed_workers_items_are_finished_by_the_other(env: Env) -> None:
    killed: list[multiprocessing.process.BaseProcess] = []

    def kill_one_worker(messages: list[dict[str, Any]]) -> str:
        if not killed and env.server.calls() >= 6:
            victim = _worker_children()[0]
            assert victim.pid is not None
            os.kill(victim.pid, signal.SIGKILL)
            killed.append(victim)
        return "Paris"

    env.server.script("good", reply=kill_one_worker, latency=0.2)
    env.server.script("bad", latency=0.2)
    result = env.invoke(
        "eval", "run", "--no-judge", "--samples", "4", "--workers", "2", "--concurrency", "8"
    )
    assert result.exit_code == 0, result.output
    assert killed and killed[0].exitcode == -signal.SIGKILL
    report = env.report(1)
    assert report.status.value == "complete"
    assert len(report.results) == 32 and len({r.key for r in report.results}) == 32
    assert all(r.passed == (r.model == "good") for r in report.results)
    # The person running it is told, not only the log.
    said = " ".join(result.stderr.split())
    notice = re.search(
        rf"{killed[0].name} was killed \(SIGKILL\); (its (?P<items>\d+) unfinished items? "
        r"(?:go|goes) to the other workers|it had no unfinished items; the other workers go on)\.",
        said,
    )
    assert notice, said
    # Its unfinished items were asked again by the other worker (those it had already
    # sent to the provider count twice there); nothing it had finished was asked again.
    unfinished = int(notice.group("items") or 0)
    assert 32 <= env.server.calls() <= 32 + unfinished, (env.server.calls(), said)


def test_ctrl_c_stops_every_worker_keeps_what_was_answered_and_resumes(
    env: Env, tmp_path: Path
) -> None:
    env.server.script("good", latency=0.3)
    env.server.script("bad", latency=0.3)
    command = [sys.executable, "-m", "bot.cli", "eval", "run", "--no-judge", "--samples", "4"]
    process = subprocess.Popen(
        [*command, "--workers", "2", "--concurrency", "4"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a job in a terminal
    )
    try:
        deadline = time.monotonic() + 120
        while _stored(tmp_path) < 6:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no results stored in time"
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, stderr
    assert "quorum eval run --resume 1" in " ".join(stderr.split())
    assert "Traceback" not in stderr
    kept = _stored(tmp_path)
    assert 6 <= kept < 32 and env.report(1).status.value == "running"

    resumed = env.invoke("eval", "run", "--resume", "1", "--workers", "2")
    assert resumed.exit_code == 0, resumed.output
    report = env.report(1)
    assert report.status.value == "complete" and len(report.results) == 32
    # Only calls in flight at the interrupt (at most --concurrency) were asked twice.
    assert 32 <= env.server.calls() <= 32 + 4


def _stored(tmp_path: Path) -> int:
    try:
        with sqlite3.connect(tmp_path / "quorum.db", timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM eval_results").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
