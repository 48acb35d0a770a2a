"""Panel overhead beyond the slowest member, through the real litellm path.

Five members on the fake OpenAI-compatible server, each answering after 200 ms. For each
run we time ``ask_panel`` end to end and report how much longer it took than

- the server's 200 ms (everything we and litellm add: HTTP, parsing, cost, fan-out), and
- the slowest member's own measured latency (the panel's fan-out and gathering alone).

Run from the repository root::

    python -m bench.panel_overhead [--runs 30] [--members 5] [--latency-ms 200] [--in-process]

The fake server runs in a process of its own by default, so its work does not count as ours.

Target on the team's 2-core machine: median overhead ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import numpy as np
from rich.console import Console
from rich.table import Table

from evals.models.litellm_client import LiteLLMClient
from evals.models.panel import ask_panel
from evals.records import PanelMember
from tests.fakes.openai_server import FakeOpenAIServer, ModelScript

TARGET_MS = 50.0


REPLY = "The capital of France is Paris. " * 20
RESOLVED = "gpt-4o-mini-2024-07-18"


def _members(base_url: str, count: int) -> list[PanelMember]:
    return [
        PanelMember(
            name=f"member-{i}",
            model=f"openai/member-{i}",
            params={"api_base": base_url, "api_key": "sk-bench"},
            timeout_s=10.0,
        )
        for i in range(count)
    ]


@contextmanager
def _server(latency_s: float, in_process: bool) -> Iterator[str]:
    """The fake server's base URL: in a thread of this process, or in a process of its own."""
    if in_process:
        with FakeOpenAIServer() as server:
            server.default = ModelScript(reply=REPLY, latency=latency_s, resolved_model=RESOLVED)
            yield server.base_url
        return
    command = [sys.executable, "-m", "tests.fakes.openai_server", "--latency", str(latency_s)]
    command += ["--reply", REPLY, "--resolved-model", RESOLVED]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            yield process.stdout.readline().strip()
        finally:
            process.terminate()


async def _measure(
    members: list[PanelMember], runs: int, warmup: int
) -> tuple[list[float], list[float]]:
    client = LiteLLMClient()
    await client.warm_up()
    wall_ms: list[float] = []
    slowest_ms: list[float] = []
    for i in range(warmup + runs):
        started = time.perf_counter()
        run = await ask_panel("What is the capital of France?", members, client)
        elapsed = (time.perf_counter() - started) * 1000
        if not all(a.ok for a in run.answers):
            failed = [f"{a.member}: {a.error_detail}" for a in run.answers if not a.ok]
            raise SystemExit(f"a member failed, the numbers would mean nothing: {failed}")
        if i >= warmup:
            wall_ms.append(elapsed)
            slowest_ms.append(max(a.latency_ms for a in run.answers))
    return wall_ms, slowest_ms


def _row(table: Table, label: str, values: list[float], target: float | None) -> None:
    median = statistics.median(values)
    p95 = float(np.percentile(values, 95))
    verdict = "" if target is None else ("[green]ok[/]" if median <= target else "[red]over[/]")
    table.add_row(label, f"{median:.1f}", f"{p95:.1f}", f"{max(values):.1f}", verdict)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the fake server in a thread of this process (it then competes for the GIL)",
    )
    args = parser.parse_args()
    if args.runs < 1 or args.members < 1 or args.latency_ms < 0:
        parser.error("--runs and --members must be at least 1, --latency-ms not negative")

    with _server(args.latency_ms / 1000, args.in_process) as base_url:
        members = _members(base_url, args.members)
        wall, slowest = asyncio.run(_measure(members, args.runs, args.warmup))

    table = Table(
        title=(
            f"Panel overhead: {args.members} members at {args.latency_ms:g} ms, "
            f"{args.runs} runs, server {'in' if args.in_process else 'out of'} process (ms)"
        )
    )
    for column in ("measure", "median", "p95", "max", f"target ≤ {TARGET_MS:g}"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    _row(table, "panel wall time", wall, None)
    _row(
        table,
        "overhead beyond the server's latency",
        [w - args.latency_ms for w in wall],
        TARGET_MS,
    )
    _row(
        table,
        "overhead beyond the slowest member",
        [w - s for w, s in zip(wall, slowest, strict=True)],
        None,
    )
    Console().print(table)


if __name__ == "__main__":
    main()
