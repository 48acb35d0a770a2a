"""The bot's memory, start to burst to settled: the real `quorum run --http` process.

Everything real but Slack and the models: the bot is started exactly as the Procfile's
``web:`` line starts it (``quorum run --http --no-scheduler``, a migrated SQLite file, the
bundled embedding model loading at boot), Slack is the fake Web API from tests/fakes and
the panel is four models on the fake OpenAI-compatible server answering ~250 words each
after 1.0, 1.7, 2.3 and 3.0 s, a different answer for every question (so nothing comes
from the embedding cache). Then ``--requests`` signed ``/compare`` arrive at once, each
from its own user in its own channel.

Reported: seconds to a passing /healthz and to the embedder loaded; RSS at start (model
loaded, idle), the peak (the kernel's high-water mark, VmHWM), RSS when every answer is
posted and after ``--settle`` seconds; and how long the answers took (the signed request
to the final message, p50 / p95 / max) and the slash-command ack latency. Target (issue
13): steady < 600 MB, peak < 700 MB, answers no slower.

Run from the repository root::

    python -m bench.bot_memory [--requests 50] [--settle 15] [--env NAME=VALUE ...]

``--env`` passes extra environment variables to the bot (e.g. ``MALLOC_ARENA_MAX=2``) to
measure a setting without changing code; ``--code DIR`` runs the bot from another
checkout (e.g. a worktree of the previous commit) for a before/after comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from rich.console import Console
from rich.table import Table

from tests.fakes import slack_requests as sr
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.slack_api import FakeSlackAPI

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-signing-secret"
LATENCIES = {"m1": 1.0, "m2": 1.7, "m3": 2.3, "m4": 3.0}
TARGET_STEADY_MB, TARGET_PEAK_MB = 600, 700
WORDS = str.split(
    "the bridge opened in spring and the river rose while people watched from the old "
    "city walls because the weather changed early that year so traders moved their stalls "
    "uphill and the council paid for new stone from the northern quarry"
)


def _answer(model: str, messages: list[dict[str, Any]]) -> str:
    """About 250 words that differ per question and per model; models 1-3 agree in gist."""
    question = str(messages[-1].get("content", ""))
    seed = sum(map(ord, question)) + (7 if model == "m4" else 0)
    body = " ".join(
        WORDS[(seed + k * (3 if model == "m4" else 1)) % len(WORDS)] for k in range(240)
    )
    verdict = "Berlin" if model == "m4" else "Paris"
    return f"The answer is {verdict}. {question} {body}."


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (peak), RssAnon (heap) and RssFile (mapped code) of ``pid`` in bytes,
    and its thread count."""
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                    value = int(line.split()[1])
                    found[key] = value if key == "Threads" else value * 1024
    except OSError:
        pass
    return found


def _mb(value: float) -> str:
    return f"{value / 2**20:.0f}"


def _split(status: dict[str, int]) -> str:
    return (
        f"{_mb(status['VmRSS'])} MB ({_mb(status['RssAnon'])} heap + "
        f"{_mb(status['RssFile'])} files; {status['Threads']} threads)"
    )


def _health(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            data: dict[str, Any] = json.loads(resp.read())
            return data if resp.status == 200 else None
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return None


@dataclass
class Burst:
    acks_ms: list[float] = field(default_factory=list)
    answers_s: list[float] = field(default_factory=list)
    failed: int = 0


async def _burst(port: int, slack: FakeSlackAPI, n: int, wait_s: float) -> Burst:
    burst = Burst()
    url = f"http://127.0.0.1:{port}/slack/events"

    def finished(channel: str) -> bool:
        return any("likely right" in m.text for m in slack.messages(channel))

    async def one(session: aiohttp.ClientSession, i: int) -> None:
        channel = f"C0BENCH{i:03d}"
        request = sr.slash_command(
            SECRET,
            f"Which city is the capital of France? Asked as question number {i}.",
            user_id=f"U0BENCH{i:03d}",
            user_name=f"bench{i}",
            channel_id=channel,
            channel_name=f"bench-{i}",
        )
        started = time.monotonic()
        async with session.post(url, data=request.body, headers=request.headers) as resp:
            await resp.read()
            burst.acks_ms.append((time.monotonic() - started) * 1000)
            if resp.status != 200:
                burst.failed += 1
                return
        deadline = started + wait_s
        while time.monotonic() < deadline:
            if finished(channel):
                burst.answers_s.append(time.monotonic() - started)
                return
            await asyncio.sleep(0.05)
        burst.failed += 1

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session, i) for i in range(n)))
    return burst


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round((len(ordered) - 1) * q))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--settle", type=float, default=15.0, help="seconds after the burst")
    parser.add_argument("--timeout", type=float, default=120.0, help="per answer")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the bot")
    parser.add_argument(
        "--code", type=Path, default=ROOT, help="the checkout whose bot runs (before/after)"
    )
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.env)
    console = Console(width=120)
    load_start = os.getloadavg()

    slack = FakeSlackAPI().start()
    with (
        FakeOpenAIServer() as models,
        tempfile.TemporaryDirectory(prefix="quorum-bot-memory-") as tmp_name,
    ):
        tmp = Path(tmp_name)
        for name, latency in LATENCIES.items():
            models.script(
                name, reply=lambda messages, name=name: _answer(name, messages), latency=latency
            )
        panel = [
            {
                "model_name": name,
                "litellm_params": {
                    "model": f"openai/{name}",
                    "api_base": models.base_url,
                    "api_key": "os.environ/BENCH_PROVIDER_KEY",
                },
                "timeout": 30,
            }
            for name in LATENCIES
        ]
        (tmp / "quorum.yaml").write_text(yaml.safe_dump({"panel": panel}))
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "QUORUM_"))}
        env.update(
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            QUORUM_CONFIG=str(tmp / "quorum.yaml"),
            DATABASE_URL=f"sqlite:///{tmp / 'quorum.db'}",
            SLACK_BOT_TOKEN="xoxb-bench-token",
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=slack.url,
            PORT=str(port),
            BENCH_PROVIDER_KEY="sk-bench",
            PYTHONPATH=str(args.code.resolve()),
            QUORUM_LOG_LEVEL="WARNING",
        )
        env.update(extra)
        log = open(tmp / "bot.log", "w")  # noqa: SIM115 - closed below
        started = time.monotonic()
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--http", "--no-scheduler"],
            env=env,
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        series: list[tuple[float, int]] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.1):
                rss = _status(bot.pid).get("VmRSS")
                if rss:
                    series.append((time.monotonic() - started, rss))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            healthy_s = loaded_s = None
            while time.monotonic() - started < 180:
                if bot.poll() is not None:
                    raise SystemExit(f"the bot exited: {(tmp / 'bot.log').read_text()[-3000:]}")
                health = _health(port)
                if health is not None:
                    healthy_s = healthy_s or time.monotonic() - started
                    if health.get("embedder") == "loaded":
                        loaded_s = time.monotonic() - started
                        break
                time.sleep(0.1)
            if loaded_s is None:
                raise SystemExit("the embedder never loaded within 180 s")
            time.sleep(3)
            at_start = _status(bot.pid)
            burst_started = time.monotonic()
            burst = asyncio.run(_burst(port, slack, args.requests, args.timeout))
            burst_s = time.monotonic() - burst_started
            after_burst = _status(bot.pid)
            time.sleep(args.settle)
            settled = _status(bot.pid)
        finally:
            stop.set()
            sampler.join()
            if bot.poll() is None:
                bot.send_signal(signal.SIGINT)
                try:
                    bot.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    bot.kill()
                    bot.wait()
            log.close()
            slack.stop()

    load_end = os.getloadavg()
    title = f"`quorum run --http`, {args.requests} concurrent /compare"
    if extra:
        title += " with " + " ".join(args.env)
    if args.code.resolve() != ROOT:
        title += f" (code: {args.code})"
    table = Table(title=title)
    table.add_column("what")
    table.add_column("measured", justify="right")
    table.add_column("target", justify="right")
    peak = settled["VmHWM"]
    table.add_row("healthy (GET /healthz 200) after", f"{healthy_s:.1f} s", "")
    table.add_row("embedder loaded after", f"{loaded_s:.1f} s", "")
    table.add_row("RSS at start (model loaded, idle)", _split(at_start), "")
    ok_peak = "[green]✓[/]" if peak / 2**20 < TARGET_PEAK_MB else "[red]✗[/]"
    table.add_row("peak RSS (VmHWM)", f"{_mb(peak)} MB", f"< {TARGET_PEAK_MB} MB {ok_peak}")
    table.add_row("RSS when every answer was posted", _split(after_burst), "")
    ok_steady = "[green]✓[/]" if settled["VmRSS"] / 2**20 < TARGET_STEADY_MB else "[red]✗[/]"
    table.add_row(
        f"RSS {args.settle:.0f} s later (steady)",
        _split(settled),
        f"< {TARGET_STEADY_MB} MB {ok_steady}",
    )
    answers = burst.answers_s
    table.add_row(
        "answer time p50 / p95 / max",
        f"{_pct(answers, 0.5):.2f} / {_pct(answers, 0.95):.2f} / {max(answers, default=float('nan')):.2f} s",
        "no slower",
    )
    table.add_row(
        "ack p50 / max", f"{statistics.median(burst.acks_ms):.0f} / {max(burst.acks_ms):.0f} ms", ""
    )
    table.add_row("answers / failed", f"{len(answers)} / {burst.failed}", f"{args.requests} / 0")
    table.add_row("burst, first request to last answer", f"{burst_s:.1f} s", "")
    console.print(table)
    console.print(
        f"{os.cpu_count()} CPU cores; load average (1/5/15 min) "
        f"{load_start[0]:.2f}/{load_start[1]:.2f}/{load_start[2]:.2f} at the start, "
        f"{load_end[0]:.2f}/{load_end[1]:.2f}/{load_end[2]:.2f} at the end."
    )


if __name__ == "__main__":
    main()
