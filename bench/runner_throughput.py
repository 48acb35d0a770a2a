"""Eval throughput: `quorum eval run` and promptfoo side by side, same provider, same work.

One fake OpenAI-compatible server (tests/fakes/openai_server.py, in a process of its
own so its work is never counted and nothing this script does delays it) answers every
call after exactly 200 ms, however many arrive at once. Both tools get the same workload: one promptfoo-format test file
written by Quorum's own exporter (cases × 3 models × 3 samples, three rule assertions
each), imported into a fresh SQLite database for Quorum and read as ``tests:`` by
promptfoo. Each tool runs as a process of its own, exactly as a user starts it:

- ``quorum eval run --set golden --samples 3 --concurrency 64 --no-judge --json``, once
  per ``--workers`` value (1 and 2 when the flag exists, else one row without it);
- ``promptfoo eval --no-cache -j 64 --repeat 3`` (0.120.0, from bench/node/: run
  ``make bench-node`` once; skipped with a message when Node or the install is missing).

Reported per row: wall time (process start to exit, start-up and teardown included);
CPU (user + sys of the whole process tree: ``wait4``'s figure or, when larger, the sum
over every process seen in the tree, sampled every 50 ms from /proc); peak RSS and peak
PSS of the whole process tree (summed over the tree at each sample; RSS counts a page
shared by forked workers once per process, PSS splits it between them); the ratio
to the ideal (calls × latency ÷ concurrency) and to promptfoo's wall time; the calls the
server saw and the most it had in flight at once. A row whose server call count differs
from the workload is marked, its numbers void.

Run from the repository root::

    python -m bench.runner_throughput                   # 2,700 calls
    python -m bench.runner_throughput --grow            # 2,700, 8,100 and 30,000 calls
    python -m bench.runner_throughput --sizes 900 --workers 1   # a quick check
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

from bench._support import ROOT, Provider, import_cases, provider, quorum_env
from evals.cases.assertions import Assertion, AssertionType
from evals.cases.file_formats import CaseFormat, dump_cases
from evals.cases.schema import CaseInput, CaseSet, CaseStatus, EvalCase

NODE_DIR = ROOT / "bench" / "node"
PROMPTFOO = NODE_DIR / "node_modules" / ".bin" / "promptfoo"
PROMPTFOO_VERSION = "0.120.0"
TARGET_IDEAL, TARGET_PROMPTFOO = 1.3, 0.6
GROW_SIZES = (2_700, 8_100, 30_000)
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Row:
    label: str
    calls: int  # what the workload asks for
    seen: int  # what the server received
    in_flight: int  # the most the server had at once
    measured: Measured
    note: str = ""

    @property
    def wall_s(self) -> float:
        return self.measured.wall_s


# ---------------------------------------------------------------- measuring a process tree


TICK = os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry))
    return tree


def _descendants(root: int) -> list[int]:
    tree, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


@dataclass
class TreeSample:
    """What the process tree holds now, and the CPU each process has used so far."""

    rss: int = 0
    pss: int = 0
    cpu_ticks: dict[int, int] = field(default_factory=dict)


def _sample_tree(root: int, cpu_ticks: dict[int, int]) -> TreeSample:
    sample = TreeSample(cpu_ticks=cpu_ticks)
    for pid in _descendants(root):
        statm = _read(f"/proc/{pid}/statm").split()
        if len(statm) > 1:
            sample.rss += int(statm[1]) * PAGE
        for line in _read(f"/proc/{pid}/smaps_rollup").splitlines():
            if line.startswith("Pss:"):
                sample.pss += int(line.split()[1]) * 1024
                break
        stat = _read(f"/proc/{pid}/stat").rsplit(")", 1)
        if len(stat) == 2:
            fields = stat[1].split()
            cpu_ticks[pid] = int(fields[11]) + int(fields[12])  # utime + stime
    return sample


@dataclass
class Measured:
    wall_s: float
    cpu_s: float  # the larger of wait4's and the sampled tree's
    rss_mb: float  # peak of the tree's summed RSS (shared pages counted per process)
    pss_mb: float  # peak of the tree's summed PSS (shared pages split between sharers)
    exit_code: int
    tail: str


def _measure(command: Sequence[str], *, env: dict[str, str], cwd: Path) -> Measured:
    """One process, started as a user would, and everything it starts, until it exits."""
    log = cwd / f"output-{time.monotonic_ns()}.log"
    with open(log, "w") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT)
        peak_rss = peak_pss = 0
        ticks: dict[int, int] = {}
        done = threading.Event()

        def sample() -> None:
            nonlocal peak_rss, peak_pss
            while not done.wait(0.05):
                now = _sample_tree(process.pid, ticks)
                peak_rss, peak_pss = max(peak_rss, now.rss), max(peak_pss, now.pss)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
    cpu = max(usage.ru_utime + usage.ru_stime, sum(ticks.values()) / TICK)
    return Measured(
        wall,
        cpu,
        peak_rss / 2**20,
        peak_pss / 2**20,
        os.waitstatus_to_exitcode(status),
        log.read_text(errors="replace")[-1500:],
    )


# ---------------------------------------------------------------- the shared workload


def _cases(n: int) -> list[EvalCase]:
    return [
        EvalCase(
            id=f"bench-{i:05d}",
            input=CaseInput(question=f"What is the capital of France? (variant {i})"),
            assertions=[
                Assertion(type=AssertionType.ICONTAINS, value="Paris"),
                Assertion(type=AssertionType.NOT_ICONTAINS, value="Berlin"),
                Assertion(type=AssertionType.REGEX, value=r"\bParis\b"),
            ],
            set=CaseSet.GOLDEN,
            status=CaseStatus.ACTIVE,
        )
        for i in range(n)
    ]


def _prepare(work: Path, cases: list[EvalCase], base_url: str, models: int) -> None:
    """The test file both tools read, Quorum's config and database, promptfoo's config."""
    (work / "cases.yaml").write_text(dump_cases(cases, CaseFormat.PROMPTFOO))
    panel = [
        {
            "model_name": f"model-{i}",
            "litellm_params": {
                "model": f"openai/model-{i}",
                "api_base": base_url,
                "api_key": "os.environ/BENCH_PROVIDER_KEY",
            },
            "timeout": 30,
            "max_retries": 0,
        }
        for i in range(models)
    ]
    (work / "quorum.yaml").write_text(yaml.safe_dump({"panel": panel}))
    import_cases(work)
    providers = [
        {
            "id": f"openai:chat:model-{i}",
            "label": f"model-{i}",
            "config": {"apiBaseUrl": base_url, "apiKey": "sk-bench", "temperature": 0},
        }
        for i in range(models)
    ]
    config = {
        "description": "Quorum bench: same cases, models and fake provider as quorum eval run",
        "prompts": ["{{question}}"],
        "providers": providers,
        "tests": "file://cases.yaml",
    }
    (work / "promptfooconfig.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


# ---------------------------------------------------------------- the tools


def workers_flag() -> bool:
    """Whether this checkout's `quorum eval run` has --workers."""
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "eval", "run", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
    )
    return "--workers" in done.stdout


def promptfoo_missing() -> str | None:
    """Why promptfoo cannot run here, or None."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "Node.js/npm is not installed: promptfoo skipped (install Node 20, then `make bench-node`)."
    if not PROMPTFOO.exists():
        return f"promptfoo is not installed in {NODE_DIR}: skipped (run `make bench-node`)."
    if not (NODE_DIR / "node_modules" / "promptfoo" / "drizzle").exists():
        # The package looks for its migrations there; they ship in dist/drizzle.
        return "promptfoo's drizzle/ link is missing: skipped (run `make bench-node` again)."
    return None


def _run_quorum(
    work: Path, server: Provider, args: argparse.Namespace, calls: int, workers: int | None
) -> Row:
    shutil.copy(work / "imported.db", work / "quorum.db")
    command = [
        sys.executable,
        "-m",
        "bot.cli",
        "eval",
        "run",
        "--set",
        "golden",
        "--samples",
        str(args.samples),
        "--concurrency",
        str(args.concurrency),
        "--no-judge",
        "--json",
    ]
    label = "quorum eval run"
    if workers is not None:
        command += ["--workers", str(workers)]
        label += f" --workers {workers}"
    server.reset()
    m = _measure(command, env=quorum_env(work), cwd=work)
    note = "" if m.exit_code == 0 else f"exit {m.exit_code}: {m.tail[-300:]}"
    return Row(label, calls, server.calls(), server.max_in_flight, m, note)


def _run_promptfoo(work: Path, server: Provider, args: argparse.Namespace, calls: int) -> Row:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI")}
    env.update(
        PROMPTFOO_DISABLE_TELEMETRY="1",
        PROMPTFOO_DISABLE_UPDATE="1",
        PROMPTFOO_CONFIG_DIR=str(work / "promptfoo-home"),  # its database, not ~/.promptfoo
        OPENAI_API_KEY="sk-bench",
    )
    command = [
        str(PROMPTFOO),
        "eval",
        "-c",
        "promptfooconfig.yaml",
        "--no-cache",
        "-j",
        str(args.concurrency),
        "--repeat",
        str(args.samples),
        "--no-table",
        "--no-progress-bar",
        "--no-share",
    ]
    server.reset()
    m = _measure(command, env=env, cwd=work)
    # promptfoo exits 100 when an assertion fails; every one passes here.
    note = "" if m.exit_code == 0 else f"exit {m.exit_code}: {m.tail[-300:]}"
    label = f"promptfoo {PROMPTFOO_VERSION} eval -j {args.concurrency}"
    return Row(label, calls, server.calls(), server.max_in_flight, m, note)


# ---------------------------------------------------------------- the report


def _table(rows: list[Row], ideal: float, args: argparse.Namespace, calls: int) -> Table:
    table = Table(
        title=f"{calls:,} calls ({math.ceil(calls / args.models / args.samples):,} cases × "
        f"{args.models} models × {args.samples} samples), concurrency {args.concurrency}, "
        f"{args.latency_ms:.0f} ms per call: ideal {ideal:.1f} s"
    )
    for head in (
        "tool",
        "wall s",
        "CPU s",
        "peak RSS MB",
        "peak PSS MB",
        "× ideal",
        "× promptfoo",
        "calls seen",
        "max in flight",
    ):
        table.add_column(head, justify="left" if head == "tool" else "right")
    promptfoo = next(
        (r for r in rows if r.label.startswith("promptfoo") and r.measured.exit_code == 0), None
    )
    for r in rows:
        valid = r.measured.exit_code == 0 and r.seen == r.calls
        x_ideal = r.wall_s / ideal
        x_pf = f"{r.wall_s / promptfoo.wall_s:.2f}" if promptfoo else "–"
        if r.label.startswith("quorum"):
            ok_ideal = "[green]✓[/]" if x_ideal <= TARGET_IDEAL else "[red]✗[/]"
            x_ideal_text = f"{x_ideal:.2f} {ok_ideal}"
            if promptfoo:
                ok = (
                    "[green]✓[/]"
                    if r.wall_s / promptfoo.wall_s <= TARGET_PROMPTFOO
                    else "[red]✗[/]"
                )
                x_pf += f" {ok}"
        else:
            x_ideal_text = f"{x_ideal:.2f}"
        table.add_row(
            r.label + ("" if valid else " [red](void)[/]"),
            f"{r.wall_s:.1f}",
            f"{r.measured.cpu_s:.1f}",
            f"{r.measured.rss_mb:.0f}",
            f"{r.measured.pss_mb:.0f}",
            x_ideal_text,
            x_pf,
            f"{r.seen:,}" + ("" if r.seen == r.calls else f" of {r.calls:,}"),
            str(r.in_flight),
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2700", help="comma-separated call counts")
    parser.add_argument("--grow", action="store_true", help=f"sizes {GROW_SIZES}")
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--workers", default="1,2", help="quorum rows (when --workers exists)")
    parser.add_argument("--no-promptfoo", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    sizes = list(GROW_SIZES) if args.grow else [int(s) for s in args.sizes.split(",") if s]
    if min(args.models, args.samples, args.concurrency, *sizes) < 1:
        parser.error("sizes, --models, --samples and --concurrency must be at least 1")

    console = Console(width=150)
    has_workers = workers_flag()
    workers: list[int | None] = [int(w) for w in args.workers.split(",")] if has_workers else [None]
    if not has_workers:
        console.print("This checkout's `quorum eval run` has no --workers: one Quorum row.")
    skip = "skipped (--no-promptfoo)" if args.no_promptfoo else promptfoo_missing()
    if skip:
        console.print(f"[yellow]{skip}[/]")
    load = os.getloadavg()
    per_case = args.models * args.samples
    with provider(args.latency_ms / 1000) as server:
        for size in sizes:
            n_cases = math.ceil(size / per_case)
            calls = n_cases * per_case
            ideal = calls * args.latency_ms / 1000 / args.concurrency
            work = Path(tempfile.mkdtemp(prefix="quorum-throughput-"))
            try:
                _prepare(work, _cases(n_cases), server.base_url, args.models)
                rows = [_run_quorum(work, server, args, calls, w) for w in workers]
                if not skip:
                    rows.append(_run_promptfoo(work, server, args, calls))
            finally:
                if args.keep:
                    console.print(f"work directory kept: {work}")
                else:
                    shutil.rmtree(work, ignore_errors=True)
            console.print(_table(rows, ideal, args, calls))
            for r in rows:
                if r.note:
                    console.print(f"[red]{r.label}[/]: {r.note}", markup=True, highlight=False)
    console.print(
        f"{os.cpu_count()} CPU cores; load average (1/5/15 min) {load[0]:.2f}/{load[1]:.2f}/"
        f"{load[2]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end. Targets (issue 13): "
        f"≤ {TARGET_IDEAL}× ideal with 2 workers, ≤ {TARGET_PROMPTFOO}× promptfoo's wall time."
    )


if __name__ == "__main__":
    main()
