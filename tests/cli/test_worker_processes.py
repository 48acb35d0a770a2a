"""`quorum worker` processes on the task queue (procrastinate on the real PostgreSQL): the
scheduled benchmark is only queued by the scheduler; two real workers run it; one is
SIGKILLed mid-run and its jobs are taken over; every item ends with exactly one result."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from typer.testing import CliRunner

from bot.cli import app
from bot.cli.edge import load_settings_and_config
from bot.eval_runs.plan import EvalRunRequest, RunPlan
from bot.eval_runs.service import EvalRunService
from bot.eval_runs.task_queue import (
    ITEMS_PER_JOB,
    TASK_ITEMS,
    TASK_RETRY_STALLED,
    conninfo,
    enqueue_run,
    queue_app,
    watch_run,
    withdraw_jobs,
)
from bot.runtime.services import Services, command_services
from bot.schedule import jobs
from evals.cases.redaction import redacted
from evals.cases.schema import CaseInput, CaseSet, CaseStatus, EvalCase
from evals.runs.report import EvalReport, RunStatus
from storage import case_repo
from storage.db import Database
from storage.tables.jobs import JobStatus
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.slack_requests import TEAM_ID

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CASES, MODELS, SAMPLES = 20, 2, 3  # the scheduled benchmark asks 3 samples
TOTAL = CASES * MODELS * SAMPLES


@pytest.fixture
def queue_env(
    tmp_path: Path,
    empty_postgres_url: str,
    fake_openai: FakeOpenAIServer,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """Quorum's tables and the queue's in one throwaway schema; two models on the fake
    provider answering after 0.5 s."""
    panel = [
        {
            "model_name": name,
            "litellm_params": {
                "model": f"openai/{name}",
                "api_base": fake_openai.base_url,
                "api_key": "sk-test",
            },
            "max_retries": 0,
        }
        for name in ("good", "bad")
    ]
    config = tmp_path / "quorum.yaml"
    config.write_text(yaml.safe_dump({"panel": panel}), encoding="utf-8")
    fake_openai.script("good", reply="Paris", latency=0.5)
    fake_openai.script("bad", reply="Berlin", latency=0.5)
    db = Database(empty_postgres_url)
    try:
        db.ensure_schema()
        with db.session() as s:
            case_repo.add_cases(
                s,
                [
                    redacted(
                        EvalCase(
                            id=f"geo-{i}",
                            input=CaseInput(question=f"What is the capital of France? ({i})"),
                            must_include=["Paris"],
                            set=CaseSet.GOLDEN,
                            status=CaseStatus.ACTIVE,
                        )
                    )
                    for i in range(CASES)
                ],
                actor="test",
                workspace=TEAM_ID,
            )
    finally:
        db.dispose()
    env = {
        "DATABASE_URL": empty_postgres_url,
        "QUORUM_TASK_QUEUE": empty_postgres_url,
        "QUORUM_CONFIG": str(config),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return env


#: The benchmark jobs (the workers also run a stalled-job sweep through the queue).
BENCHMARK_JOBS = f"procrastinate_jobs WHERE task_name = '{TASK_ITEMS}'"


def _busy_workers(url: str) -> int:
    """Workers holding a benchmark job right now (not counting the stalled-job sweep)."""
    sql = f"SELECT count(DISTINCT worker_id) FROM {BENCHMARK_JOBS} AND status = 'doing'"
    return int(_query(url, sql)[0][0])


_CASE_ID = re.compile(r"\((\d+)\)$")


def _stored_per_pair(url: str) -> Counter[tuple[str, str]]:
    """Stored results per (case id, model)."""
    rows = _query(url, "SELECT case_id, model FROM eval_results")
    return Counter((str(case_id), str(model)) for case_id, model in rows)


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(conninfo(url)) as conn:
        return conn.execute(sql).fetchall()


def _env(queue_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "QUORUM_"))}
    env.update(queue_env, PYTHONPATH=str(ROOT), QUORUM_LOG_LEVEL="INFO", COLUMNS="100")
    return env


def _start_workers(
    queue_env: dict[str, str], tmp_path: Path, n: int = 2
) -> list[subprocess.Popen[str]]:
    command = [sys.executable, "-m", "bot.cli", "worker", "--concurrency", "2"]
    command += ["--heartbeat", "0.5", "--stalled-after", "3"]
    return [
        subprocess.Popen(
            command,
            cwd=tmp_path,
            env=_env(queue_env),
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"worker-{i}.log").open("w"),
            text=True,
        )
        for i in range(n)
    ]


def _stop(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def workers(queue_env: dict[str, str], tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    started = _start_workers(queue_env, tmp_path)
    try:
        yield started
    finally:
        _stop(started)


def _kill_one_mid_run(url: str, workers: list[subprocess.Popen[str]]) -> None:
    """SIGKILL the first worker once results are being stored and both hold a job."""
    deadline = time.monotonic() + 120
    while _query(url, "SELECT count(*) FROM eval_results")[0][0] < 8 or _busy_workers(url) < 2:
        assert all(w.poll() is None for w in workers), "a worker exited"
        assert time.monotonic() < deadline, "the workers never took two jobs at once"
        time.sleep(0.1)
    workers[0].kill()
    assert workers[0].wait(10) == -signal.SIGKILL


@pytest.mark.postgres
def test_two_workers_one_killed_every_item_has_exactly_one_result(
    queue_env: dict[str, str], workers: list[subprocess.Popen[str]], fake_openai: FakeOpenAIServer
) -> None:
    url = queue_env["DATABASE_URL"]
    # The scheduler's job only plans and queues the run: nothing is asked here.
    settings, config = load_settings_and_config()
    services = command_services(settings, config)
    try:
        outcome = asyncio.run(jobs.run_job(services, "benchmark", workspace=TEAM_ID))
    finally:
        services.close()
    assert outcome.status is JobStatus.DONE, outcome.detail
    batches = BATCHES
    assert outcome.detail.startswith("eval run 1 ") and f"in {batches} jobs" in outcome.detail
    assert _query(url, "SELECT status FROM eval_runs") == [("running",)]

    _kill_one_mid_run(url, workers)
    # Read at once: nobody stores the killed worker's lost items before its job is retried
    # (its heartbeat must be 3 s stale first), so an item missing here and asked again was
    # one the killed worker had asked (in flight, or answered but not yet written).
    stored_at_kill = _stored_per_pair(url)
    assert sum(stored_at_kill.values()) < TOTAL

    # The other worker takes the killed one's job over once its heartbeat is stale.
    deadline = time.monotonic() + 180
    while _query(url, "SELECT status FROM eval_runs")[0][0] == "running":
        assert workers[1].poll() is None, "the surviving worker exited"
        assert time.monotonic() < deadline, "the run never finished"
        time.sleep(0.2)

    assert _query(url, "SELECT status FROM eval_runs") == [("complete",)]
    rows = _query(url, "SELECT case_id, model, sample, passed FROM eval_results")
    assert len(rows) == TOTAL
    assert len({(c, m, s) for c, m, s, _ in rows}) == TOTAL
    assert all(passed == (model == "good") for _, model, _, passed in rows)
    statuses = _query(url, f"SELECT status, count(*) FROM {BENCHMARK_JOBS} GROUP BY status")
    assert statuses == [("succeeded", batches)]
    # The killed worker's job ran again, and nothing stored at the kill was asked again:
    # a (case, model) pair is asked its 3 samples once, plus at most its samples that were
    # not stored when the worker died (asked by the dead worker, lost, and asked again).
    assert _query(url, f"SELECT max(attempts) FROM {BENCHMARK_JOBS}")[0][0] >= 1
    sweeps = f"SELECT count(*) FROM procrastinate_jobs WHERE task_name = '{TASK_RETRY_STALLED}'"
    assert _query(url, sweeps)[0][0] >= 1  # put back by the periodic sweep
    asked = Counter(
        (_CASE_ID.search(r.messages[-1]["content"]).group(1), r.model)  # type: ignore[union-attr]
        for r in fake_openai.requests
        if r.path.endswith("/chat/completions")
    )
    assert sum(asked.values()) >= TOTAL
    for case in range(CASES):
        for model in ("good", "bad"):
            pair = (str(case), model)
            unstored_at_kill = SAMPLES - stored_at_kill.get((f"geo-{case}", model), 0)
            assert SAMPLES <= asked[pair] <= SAMPLES + unstored_at_kill, (pair, asked[pair])


# -- quorum eval run --queue ---------------------------------------------------------------

BATCHES = -(-TOTAL // ITEMS_PER_JOB)


def _eval_run(queue_env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "bot.cli", "eval", "run", "--queue", "--no-judge", *args]
    return subprocess.Popen(
        command,
        cwd=tmp_path,
        env=_env(queue_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _one_result_per_item(url: str) -> None:
    rows = _query(url, "SELECT case_id, model, sample, passed FROM eval_results")
    assert len(rows) == TOTAL
    assert len({(c, m, s) for c, m, s, _ in rows}) == TOTAL
    assert all(passed == (model == "good") for _, model, _, passed in rows)


@pytest.mark.postgres
def test_eval_run_queue_follows_two_workers_to_the_end_with_one_killed(
    queue_env: dict[str, str], workers: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    url = queue_env["DATABASE_URL"]
    run = _eval_run(queue_env, tmp_path, "--json")
    try:
        _kill_one_mid_run(url, workers)
        stdout, stderr = run.communicate(timeout=240)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, stderr
    assert f"Queued in {BATCHES} jobs for `quorum worker` processes" in stderr
    summary = json.loads(stdout)
    assert summary["run_id"] == 1 and summary["status"] == "complete"
    assert {m["model"]: m["pass_rate"] for m in summary["models"]} == {"good": 1.0, "bad": 0.0}
    _one_result_per_item(url)
    assert _query(url, "SELECT status FROM eval_runs") == [("complete",)]


@pytest.mark.postgres
def test_ctrl_c_withdraws_the_queued_jobs_and_a_queued_resume_finishes_the_run(
    queue_env: dict[str, str], tmp_path: Path
) -> None:
    url = queue_env["DATABASE_URL"]
    run = _eval_run(queue_env, tmp_path)  # no worker yet: every job waits
    try:
        deadline = time.monotonic() + 60
        while True:
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "the run was never queued"
            with contextlib.suppress(psycopg.Error):  # the queue's tables may not exist yet
                if _query(url, f"SELECT count(*) FROM {BENCHMARK_JOBS}")[0][0] == BATCHES:
                    break
            time.sleep(0.1)
        time.sleep(1)  # the bar is up: the interrupt reaches the waiting loop
        run.send_signal(signal.SIGINT)
        stdout, stderr = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 130, stderr
    said = " ".join(stderr.split())
    assert f"Withdrew the {BATCHES} jobs of run 1 that no worker had started" in said
    assert "finish the run with: quorum eval run --resume 1 --queue" in said
    assert "Traceback" not in stderr
    statuses = _query(url, f"SELECT status, count(*) FROM {BENCHMARK_JOBS} GROUP BY status")
    assert statuses == [("cancelled", BATCHES)]
    assert _query(url, "SELECT status FROM eval_runs") == [("running",)]
    assert _query(url, "SELECT count(*) FROM eval_results") == [(0,)]

    started = _start_workers(queue_env, tmp_path)
    try:
        resumed = _eval_run(queue_env, tmp_path, "--resume", "1", "--json")
        stdout, stderr = resumed.communicate(timeout=240)
    finally:
        _stop(started)
    assert resumed.returncode == 0, stderr
    assert json.loads(stdout)["status"] == "complete"
    _one_result_per_item(url)


def _queued_plan(queue_env: dict[str, str]) -> tuple[Services, RunPlan]:
    settings, config = load_settings_and_config()
    services = command_services(settings, config)
    return services, EvalRunService(services).plan(
        EvalRunRequest(use_judge=False, workspace=TEAM_ID)
    )


@pytest.mark.postgres
def test_watching_a_run_no_worker_takes_says_how_to_start_one_and_cancelling_withdraws(
    queue_env: dict[str, str],
) -> None:
    url = queue_env["QUORUM_TASK_QUEUE"]
    services, plan = _queued_plan(queue_env)
    notices: list[str] = []

    async def watch_then_cancel() -> None:
        queued = await enqueue_run(services, url, plan)
        assert len(queued.job_ids) == BATCHES
        watching = asyncio.create_task(
            watch_run(
                services,
                url,
                plan,
                queued,
                on_notice=notices.append,
                poll_s=0.05,
                no_worker_notice_s=0.3,
            )
        )
        for _ in range(200):
            if notices:
                break
            await asyncio.sleep(0.05)
        watching.cancel()
        with pytest.raises(asyncio.CancelledError):
            await watching

    try:
        asyncio.run(watch_then_cancel())
    finally:
        services.close()
    assert len(notices) == 2, notices
    assert notices[0].startswith("No worker has taken a job of run 1 in ")
    assert "Start one with `quorum worker`" in notices[0]
    assert notices[1].startswith(f"Withdrew the {BATCHES} jobs of run 1 ")
    statuses = _query(url, f"SELECT status, count(*) FROM {BENCHMARK_JOBS} GROUP BY status")
    assert statuses == [("cancelled", BATCHES)]


@pytest.mark.postgres
def test_a_run_whose_jobs_all_ended_unfinished_is_recorded_partial_and_resumable(
    queue_env: dict[str, str],
) -> None:
    """Its jobs were cancelled by hand (or failed): nobody will store the rest, so the
    watcher records what is stored instead of waiting for ever."""
    url = queue_env["QUORUM_TASK_QUEUE"]
    services, plan = _queued_plan(queue_env)

    async def queue_cancel_watch() -> EvalReport:
        queued = await enqueue_run(services, url, plan)
        app = queue_app(url)
        async with app.open_async():
            assert await withdraw_jobs(app, queued.run_id) == BATCHES
        return await watch_run(services, url, plan, queued, poll_s=0.05)

    try:
        report = asyncio.run(queue_cancel_watch())
    finally:
        services.close()
    assert report.status is RunStatus.PARTIAL
    assert report.status_reason == f"{TOTAL} of {TOTAL} samples did not run (resume to finish)"
    assert _query(url, "SELECT status FROM eval_runs") == [("partial",)]


def test_a_worker_without_a_queue_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QUORUM_TASK_QUEUE", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/quorum.db")
    (tmp_path / "quorum.yaml").write_text(
        yaml.safe_dump({"panel": [{"model_name": "m", "litellm_params": {"model": "openai/m"}}]})
    )
    monkeypatch.setenv("QUORUM_CONFIG", str(tmp_path / "quorum.yaml"))
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2
    assert "QUORUM_TASK_QUEUE is not set" in result.output
