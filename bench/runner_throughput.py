"""Eval runner throughput against the ideal schedule.

300 cases × 3 models × 3 samples = 2,700 model calls at concurrency 64, rule scorers only,
every call answered by the fake OpenAI-compatible server after 200 ms. The ideal wall time
is calls ÷ concurrency × latency (8.4 s); the target is measured ≤ 1.3 × ideal.

Two rows:

- **litellm → fake server**: the production path (LiteLLMClient, HTTP, litellm's parsing
  and pricing). The fake server runs in a process of its own so its work is not counted.
- **runner only**: the same run with a client that just waits the latency in-process, to
  separate the runner's own scheduling overhead from the HTTP/litellm cost per call.

Run from the repository root::

    python -m bench.runner_throughput [--cases 300] [--models 3] [--samples 3]
        [--concurrency 64] [--latency-ms 200] [--in-process]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from rich.console import Console
from rich.table import Table

from evals.assertions import Assertion, AssertionType
from evals.case_schema import CaseInput, EvalCase
from evals.litellm_client import LiteLLMClient
from evals.ports import ModelClient
from evals.report import RunStatus
from evals.runner import RunConfig, run_eval
from evals.types import ChatMessage, ModelAnswer, PanelMember
from tests.fakes.openai_server import FakeOpenAIServer, ModelScript

TARGET_RATIO = 1.3
REPLY = "The capital of France is Paris."


class WaitingClient:
    """Answers after ``latency`` seconds without any I/O: the runner's floor."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s

    async def complete(self, member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        await asyncio.sleep(self.latency_s)
        return ModelAnswer(member=member.name, model=member.model, text=REPLY, cost_usd=0.0)


@contextmanager
def _server(latency_s: float, in_process: bool) -> Iterator[str]:
    if in_process:
        with FakeOpenAIServer() as server:
            server.default = ModelScript(reply=REPLY, latency=latency_s)
            yield server.base_url
        return
    command = [sys.executable, "-m", "tests.fakes.openai_server", "--latency", str(latency_s)]
    command += ["--reply", REPLY]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            yield process.stdout.readline().strip()
        finally:
            process.terminate()


def _cases(n: int) -> list[EvalCase]:
    return [
        EvalCase(
            id=f"bench-{i:04d}",
            input=CaseInput(question=f"What is the capital of France? (variant {i})"),
            assertions=[
                Assertion(type=AssertionType.ICONTAINS, value="Paris"),
                Assertion(type=AssertionType.NOT_ICONTAINS, value="Berlin"),
                Assertion(type=AssertionType.REGEX, value=r"\bParis\b"),
            ],
        )
        for i in range(n)
    ]


def _members(base_url: str, n: int) -> list[PanelMember]:
    return [
        PanelMember(
            name=f"model-{i}",
            model=f"openai/model-{i}",
            params={"api_base": base_url, "api_key": "sk-bench"},
            timeout_s=30.0,
            max_retries=0,
        )
        for i in range(n)
    ]


async def _timed(
    client: ModelClient, cases: list[EvalCase], members: list[PanelMember], config: RunConfig
) -> tuple[float, float, int, int]:
    started, cpu = time.perf_counter(), time.process_time()
    report = await run_eval(cases, members, client, config)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if report.status is not RunStatus.COMPLETE:
        raise SystemExit(f"the run did not complete ({report.status_reason}); numbers void")
    passed = sum(1 for r in report.results if r.passed)
    return elapsed, cpu, len(report.results), passed


Row = tuple[str, float, float, int, int]


async def _run(args: argparse.Namespace, base_url: str) -> list[Row]:
    cases = _cases(args.cases)
    members = _members(base_url, args.models)
    config = RunConfig(samples=args.samples, concurrency=args.concurrency, case_set="bench")
    latency = args.latency_ms / 1000
    rows = []
    client = LiteLLMClient()
    await client.warm_up()
    # A short warm-up run so litellm's first-call imports and client set-up are not timed.
    await run_eval(cases[:5], members, client, RunConfig(samples=1, concurrency=16))
    rows.append(("litellm → fake server", *await _timed(client, cases, members, config)))
    waiting = WaitingClient(latency)
    rows.append(("runner only (no I/O)", *await _timed(waiting, cases, members, config)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--in-process", action="store_true", help="fake server in a thread")
    args = parser.parse_args()
    if min(args.cases, args.models, args.samples, args.concurrency) < 1:
        parser.error("--cases, --models, --samples and --concurrency must be at least 1")

    calls = args.cases * args.models * args.samples
    ideal = calls / args.concurrency * args.latency_ms / 1000
    with _server(args.latency_ms / 1000, args.in_process) as base_url:
        rows = asyncio.run(_run(args, base_url))

    table = Table(
        title=f"Eval runner: {args.cases} cases × {args.models} models × {args.samples} "
        f"samples = {calls} calls, concurrency {args.concurrency}, "
        f"{args.latency_ms:.0f} ms per call, rule scorers only"
    )
    heads = ["Path", "Calls", "Passed", "Ideal s", "Measured s", "Ratio", "Target", "CPU s"]
    heads.append("CPU ms/call")
    for head in heads:
        table.add_column(head, justify="left" if head == "Path" else "right")
    for label, elapsed, cpu, done, passed in rows:
        ratio = elapsed / ideal
        verdict = "[green]ok[/]" if ratio <= TARGET_RATIO else "[red]over[/]"
        table.add_row(
            label,
            str(done),
            str(passed),
            f"{ideal:.2f}",
            f"{elapsed:.2f}",
            f"{ratio:.2f}",
            f"≤ {TARGET_RATIO} {verdict}",
            f"{cpu:.1f}",
            f"{cpu / done * 1000:.1f}",
        )
    console = Console(width=120)
    console.print(table)
    console.print(
        f"CPU cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}. The event loop "
        "runs on one core, so CPU s (this process's CPU time for the run) is a floor for "
        "the measured time: above the ideal, the per-call client work (HTTP, parsing, "
        "pricing) sets the pace, not the runner's scheduling (the runner-only row)."
    )


if __name__ == "__main__":
    main()
