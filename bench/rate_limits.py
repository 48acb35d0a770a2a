"""Rate limits: an eval run at a provider's real limit loses no sample, and people first.

One fake OpenAI-compatible provider (tests/fakes/openai_server.py, in a process of its
own) allows each model ``--rpm`` requests a minute (default 300, spread evenly with at
most one second's worth at once, as OpenAI enforces it); over it, OpenAI's 429 with
``retry-after``, ``retry-after-ms``, ``x-ratelimit-*`` headers and an error body of type
``requests``, code ``rate_limit_exceeded``. Every answer takes ``--latency`` seconds.

Part 1, a real ``quorum eval run --set golden --samples 1 --no-judge --json`` (a process
of its own, as a user starts it) over ``--cases`` cases × 3 models, at the default
concurrency and at ``--concurrency 64``, with the limit unknown to Quorum and with it
configured as ``rpm`` in each member's ``litellm_params``. Reported: samples lost (an
error, or no result; target 0), wall time against the time the limit allows (calls ÷
rpm; target ≤ 1.15×), and requests the provider refused per request it answered
(target ≤ 15%).

Part 2, people first: ``--questions`` /compare-style questions (the whole panel asked
at once, as the bot asks it, through the client the bot builds), one every
``--every`` seconds, first against the idle provider, then while an eval run of the
same cases saturates it on the same key, (a) in the same process (the bot without a
worker: the limiter's priority) and (b) as a `quorum eval run` of its own (what a
`quorum worker` is): with the limit unknown, with ``rpm`` configured on both sides, and
with ``rpm`` configured and the shared budget (the asking side records people's demand
in the database the benchmark reads, as the web process does). Reported: questions every member answered (target: all) and the
p95 of each question's extra wait over the idle median (target ≤ 2 s).

Bounded: every process has a timeout (``--timeout``, default 300 s a run). Run from the
repository root::

    python -m bench.rate_limits                     # 200 cases, about 6 minutes
    python -m bench.rate_limits --cases 50 --questions 8   # a quick check
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from bench._support import Provider, import_cases, provider, quorum_env
from bot.runtime.adapters import model_client
from bot.runtime.config import QuorumConfig, parse_config
from bot.runtime.db_guard import DbGuard
from bot.runtime.shared_budget import DemandRecorder
from evals.cases.assertions import Assertion, AssertionType
from evals.cases.file_formats import CaseFormat, dump_cases
from evals.cases.schema import CaseInput, CaseSet, CaseStatus, EvalCase
from evals.models.panel import ask_panel
from evals.protocols import ModelClient, SystemClock
from evals.runs.runner import RunConfig, run_eval
from storage.db import Database

MODELS = 3
TARGET_LOST, TARGET_WALL, TARGET_REFUSED, TARGET_P95_S = 0, 1.15, 0.15, 2.0


# ---------------------------------------------------------------- Quorum's side


def cases(n: int) -> list[EvalCase]:
    return [
        EvalCase(
            id=f"bench-{i:05d}",
            input=CaseInput(question=f"What is the capital of France? (variant {i})"),
            assertions=[Assertion(type=AssertionType.ICONTAINS, value="Paris")],
            set=CaseSet.GOLDEN,
            status=CaseStatus.ACTIVE,
        )
        for i in range(n)
    ]


def config_data(base_url: str, rpm: float | None) -> dict[str, Any]:
    panel = []
    for i in range(MODELS):
        params: dict[str, Any] = {
            "model": f"openai/model-{i}",
            "api_base": base_url,
            "api_key": "os.environ/BENCH_PROVIDER_KEY",
        }
        if rpm is not None:
            params["rpm"] = rpm
        panel.append({"model_name": f"model-{i}", "litellm_params": params, "timeout": 30})
    return {"panel": panel}


def prepare(work: Path, n_cases: int, base_url: str) -> None:
    """The cases, imported once into a database every run starts from a copy of."""
    (work / "cases.yaml").write_text(dump_cases(cases(n_cases), CaseFormat.PROMPTFOO))
    (work / "quorum.yaml").write_text(yaml.safe_dump(config_data(base_url, None)))
    import_cases(work, timeout_s=120)


def eval_command(concurrency: int | None) -> list[str]:
    command = [sys.executable, "-m", "bot.cli", "eval", "run", "--set", "golden"]
    command += ["--samples", "1", "--no-judge", "--json"]
    return command + (["--concurrency", str(concurrency)] if concurrency else [])


# ---------------------------------------------------------------- part 1: eval runs


@dataclass
class EvalRow:
    label: str
    calls: int  # samples the run should answer
    lost: int  # samples with an error, or with no result
    wall_s: float  # the run's own, as stored (the process's start-up and exit left out)
    ideal_s: float
    received: int
    refused: int
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.wall_s / self.ideal_s

    @property
    def refused_share(self) -> float:
        answered = self.received - self.refused
        return self.refused / answered if answered else float("inf")


def run_eval_process(
    work: Path, server: Provider, args: argparse.Namespace, rpm: float | None, conc: int | None
) -> EvalRow:
    shutil.copy(work / "imported.db", work / "quorum.db")
    (work / "quorum.yaml").write_text(yaml.safe_dump(config_data(server.base_url, rpm)))
    label = ("rpm configured" if rpm else "limit unknown") + (
        f", --concurrency {conc}" if conc else ", default concurrency (8)"
    )
    calls = args.cases * MODELS
    ideal = args.cases / args.rpm * 60  # each model: its calls at its limit
    server.reset()
    started = time.perf_counter()
    note = ""
    try:
        done = subprocess.run(
            eval_command(conc),
            env=quorum_env(work),
            cwd=work,
            capture_output=True,
            text=True,
            timeout=args.timeout,
        )
        wall = time.perf_counter() - started
        summary = json.loads(done.stdout) if done.stdout.strip().startswith("{") else None
    except subprocess.TimeoutExpired:
        wall, summary, note = time.perf_counter() - started, None, "timed out"
    received, refused = server.counts()
    if summary is None:
        lost = calls
        note = note or f"exit {done.returncode}: {done.stderr[-300:]}"
    else:
        ran = sum(m["samples"] for m in summary["models"])
        lost = sum(m["errors"] for m in summary["models"]) + (calls - ran)
        note = f"process {wall:.1f} s"
        wall = run_wall_s(work) or wall
    return EvalRow(label, calls, lost, wall, ideal, received, refused, note)


def run_wall_s(work: Path) -> float | None:
    """The stored run's own wall time (its record's ``total_latency_ms``)."""
    with sqlite3.connect(work / "quorum.db") as db:
        row = db.execute("SELECT record FROM eval_runs ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return None
    latency = json.loads(row[0]).get("total_latency_ms")
    return latency / 1000 if isinstance(latency, int | float) else None


# ---------------------------------------------------------------- part 2: people first


@dataclass
class AskRow:
    label: str
    asked: int
    answered: int  # questions every member answered
    walls: list[float]
    extra: list[float]  # each question's wall minus the idle median
    background: str = ""

    @property
    def p95_extra(self) -> float:
        ordered = sorted(self.extra)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


async def ask_questions(
    client: ModelClient, config: QuorumConfig, n: int, every_s: float
) -> tuple[int, list[float]]:
    """``n`` questions to the whole panel, one every ``every_s`` s; (answered by every
    member, each question's wall time)."""
    members = config.panel_members({"BENCH_PROVIDER_KEY": "sk-bench"})

    async def one(i: int) -> tuple[bool, float]:
        await asyncio.sleep(i * every_s)
        started = time.perf_counter()
        run = await ask_panel(f"Interactive question {i}: capital of France?", members, client)
        return all(a.ok for a in run.answers), time.perf_counter() - started

    outcomes = await asyncio.gather(*(one(i) for i in range(n)))
    return sum(ok for ok, _ in outcomes), [wall for _, wall in outcomes]


async def people_first(work: Path, server: Provider, args: argparse.Namespace) -> list[AskRow]:
    config = parse_config(config_data(server.base_url, None))
    members = config.panel_members({"BENCH_PROVIDER_KEY": "sk-bench"})
    rows: list[AskRow] = []

    server.reset()
    answered, idle = await ask_questions(model_client(config), config, args.questions, args.every)
    median = statistics.median(idle)
    rows.append(
        AskRow(
            "idle provider", args.questions, answered, idle, [max(0.0, w - median) for w in idle]
        )
    )

    # (a) the same process: the bot running a benchmark itself, one limiter for both
    server.reset()
    client = model_client(config)
    run = asyncio.create_task(run_eval(cases(args.cases), members, client, RunConfig(samples=1)))
    await asyncio.sleep(args.warm)  # the benchmark saturates the provider first
    answered, walls = await ask_questions(client, config, args.questions, args.every)
    calls, refused = server.counts()
    run.cancel()
    with suppress(asyncio.CancelledError):
        await run
    rows.append(
        AskRow(
            "benchmark in the same process",
            args.questions,
            answered,
            walls,
            [max(0.0, w - median) for w in walls],
            f"{refused} of {calls} requests refused",
        )
    )

    # (b) the benchmark as a process of its own (a `quorum worker`), the provider shared:
    # the limit unknown to Quorum, then configured (rpm) on both sides, without and with
    # the shared budget (people's demand recorded in the database the benchmark reads)
    for label, rpm, shared in (
        ("benchmark in another process", None, False),
        ("benchmark in another process, rpm configured", args.rpm, False),
        ("benchmark in another process, rpm configured, shared budget", args.rpm, True),
    ):
        rows.append(await other_process(work, server, args, label, rpm, shared, median))
    return rows


async def other_process(
    work: Path,
    server: Provider,
    args: argparse.Namespace,
    label: str,
    rpm: float | None,
    shared: bool,
    idle_median: float,
) -> AskRow:
    """Questions while a `quorum eval run` of its own saturates the provider; ``shared``:
    this process records people's demand as the web process does
    (bot.runtime.shared_budget), so the benchmark leaves it to them."""
    config = parse_config(config_data(server.base_url, rpm))
    shutil.copy(work / "imported.db", work / "quorum.db")
    (work / "quorum.yaml").write_text(yaml.safe_dump(config_data(server.base_url, rpm)))
    server.reset()
    process = await asyncio.create_subprocess_exec(
        *eval_command(None),
        env=quorum_env(work),
        cwd=work,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    db = Database(f"sqlite:///{work / 'quorum.db'}")
    guard = DbGuard(db, 2.0)
    try:
        await asyncio.sleep(args.warm + 3)  # its start-up, then saturation
        client = model_client(config)
        recorder = DemandRecorder(guard, SystemClock())
        if shared:
            client.limiter.observe(recorder.note)
        flushing = asyncio.create_task(recorder.run())
        try:
            answered, walls = await ask_questions(client, config, args.questions, args.every)
        finally:
            flushing.cancel()
            with suppress(asyncio.CancelledError):
                await flushing
        calls, refused = server.counts()
    finally:
        guard.close()
        db.dispose()
        if process.returncode is None:
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()
    return AskRow(
        label,
        args.questions,
        answered,
        walls,
        [max(0.0, w - idle_median) for w in walls],
        f"{refused} of {calls} requests refused",
    )


# ---------------------------------------------------------------- output


def eval_table(rows: Sequence[EvalRow], args: argparse.Namespace) -> Table:
    table = Table(
        title=f"quorum eval run: {args.cases} cases × {MODELS} models × 1 sample, provider "
        f"limit {args.rpm:g} rpm per model, answers in {args.latency * 1000:.0f} ms"
    )
    for head in ("run", "samples lost", "wall", "ideal", "wall/ideal", "refused/answered"):
        table.add_column(head, justify="left" if head == "run" else "right")
    for r in rows:
        answered = r.received - r.refused
        table.add_row(
            r.label + (f" ({r.note})" if r.note else ""),
            f"{r.lost} of {r.calls}" + (" ✓" if r.lost <= TARGET_LOST else " ✗"),
            f"{r.wall_s:.1f} s",
            f"{r.ideal_s:.1f} s",
            f"{r.ratio:.2f}×" + (" ✓" if r.ratio <= TARGET_WALL else " ✗"),
            f"{r.refused} / {answered} = {r.refused_share:.1%}"
            + (" ✓" if r.refused_share <= TARGET_REFUSED else " ✗"),
        )
    return table


def ask_table(rows: Sequence[AskRow], args: argparse.Namespace) -> Table:
    table = Table(
        title=f"{args.questions} /compare-style questions ({MODELS} members each, one every "
        f"{args.every:g} s) on the same key"
    )
    for head in ("while", "all answered", "median wall", "p95 extra wait", "provider"):
        table.add_column(head, justify="left" if head in ("while", "provider") else "right")
    for r in rows:
        all_ok = r.answered == r.asked
        table.add_row(
            r.label,
            f"{r.answered}/{r.asked}" + (" ✓" if all_ok else " ✗"),
            f"{statistics.median(r.walls):.2f} s",
            f"{r.p95_extra:.2f} s" + (" ✓" if r.p95_extra <= TARGET_P95_S else " ✗"),
            r.background,
        )
    return table


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--rpm", type=float, default=300.0, help="the provider's limit")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per answer")
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--every", type=float, default=1.0, help="seconds between questions")
    parser.add_argument("--warm", type=float, default=5.0, help="saturation before asking")
    parser.add_argument("--timeout", type=float, default=300.0, help="per eval run, seconds")
    parser.add_argument("--skip-eval", action="store_true")
    parser.add_argument("--skip-people", action="store_true")
    args = parser.parse_args(argv)
    console = Console(width=160)
    with (
        tempfile.TemporaryDirectory(prefix="quorum-bench-limits-") as tmp,
        provider(args.latency, args.rpm) as server,
    ):
        work = Path(tmp)
        prepare(work, args.cases, server.base_url)
        if not args.skip_eval:
            rows = []
            for rpm in (None, args.rpm):
                for conc in (None, 64):
                    rows.append(run_eval_process(work, server, args, rpm, conc))
                    console.print(f"  done: {rows[-1].label}", style="dim")
            console.print(eval_table(rows, args))
        if not args.skip_people:
            console.print(ask_table(asyncio.run(people_first(work, server, args)), args))


if __name__ == "__main__":
    main()
