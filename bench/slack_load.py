"""Slack load: 20 concurrent /compare over signed HTTP, models answering in 1–3 s.

Everything real but Slack and the models: the bot's aiohttp server and Bolt app, the
real LiteLLMClient against the fake OpenAI-compatible server (four members answering
after 1.0, 1.7, 2.3 and 3.0 s), consensus, a migrated SQLite database, and the fake
Slack Web API recording every call with its arrival time.

Reported:

- ack latency (HTTP response to the signed slash command) p50 / p99 / max;
- delay from the last model answer of a question to its final ``chat.update``;
- the most ``chat.update`` calls one message got in any 1-second window, and the
  smallest gap between two progress updates of one message.

Run from the repository root::

    python -m bench.slack_load [--requests 20] [--real-embedder]

Targets (issue 3): ack p99 ≤ 300 ms; final message ≤ 100 ms after the last answer;
about one update per second per message at most.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import aiohttp
from rich.console import Console
from rich.table import Table

from bot.runtime.config import parse_config
from bot.runtime.services import Services
from bot.runtime.settings import Settings
from bot.server import start_http
from evals.consensus.calibrator import default_calibrator
from evals.embedding.sentence_embedder import SentenceTransformerEmbedder
from evals.models.litellm_client import LiteLLMClient
from evals.records import ChatMessage, ModelAnswer, PanelMember
from storage.db import Database
from tests.fakes import slack_requests as sr
from tests.fakes.embedder import FakeEmbedder
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.slack_api import FakeSlackAPI

SECRET = "bench-signing-secret"
LATENCIES = {"m1": 1.0, "m2": 1.7, "m3": 2.3, "m4": 3.0}


@dataclass
class TimedClient:
    """Wraps the real client; notes when each question's answers came back."""

    inner: LiteLLMClient
    answered: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    async def complete(self, member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        answer = await self.inner.complete(member, messages)
        self.answered[messages[-1].content].append(time.monotonic())
        return answer


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def max_per_window(times: Sequence[float], window: float = 1.0) -> int:
    best, start = 0, 0
    for end in range(len(times)):
        while times[end] - times[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def warm(openai: FakeOpenAIServer) -> None:
    member = PanelMember(
        name="warm",
        model="openai/warm",
        params={"api_base": openai.base_url, "api_key": "sk-bench"},
        timeout_s=30,
    )
    await LiteLLMClient().complete(member, [ChatMessage("user", "hi")])


async def main(requests: int, real_embedder: bool, stagger_ms: float) -> None:
    console = Console()
    slack = FakeSlackAPI().start()
    openai = FakeOpenAIServer().start()
    tmp = tempfile.TemporaryDirectory()
    try:
        for name, latency in LATENCIES.items():
            openai.script(name, f"The answer is Paris ({name}).", latency=latency)
        await warm(openai)
        url = f"sqlite:///{tmp.name}/bench.db"
        db = Database(url)
        db.upgrade()
        config = parse_config(
            {
                "panel": [
                    {
                        "model_name": n,
                        "litellm_params": {
                            "model": f"openai/{n}",
                            "api_base": openai.base_url,
                            "api_key": "sk-bench",
                        },
                        "timeout": 10,
                        "max_retries": 0,
                    }
                    for n in LATENCIES
                ],
                "limits": {"per_user_requests": 1000},
            }
        )
        embedder: Any
        if real_embedder:
            embedder = SentenceTransformerEmbedder()
            embedder.load()
        else:
            embedder = FakeEmbedder()
        client = TimedClient(LiteLLMClient())
        services = Services(
            settings=Settings(
                _env_file=None,
                slack_bot_token="xoxb-bench",
                slack_signing_secret=SECRET,
                slack_api_url=slack.url,
                database_url=url,
            ),
            config=config,
            members=config.panel_members(env={}),
            shadow=[],
            client=client,
            embedder=embedder,
            calibrator=default_calibrator(),
            db=db,
        )
        server = await start_http(services, 0, host="127.0.0.1")
        questions = [f"Question {i}: what is the capital of France?" for i in range(requests)]
        async with aiohttp.ClientSession() as http:
            # one request first so Bolt's auth.test is cached, as in a running bot
            await sr.send(http, server.url, sr.slash_command(SECRET, "help"))

            async def one(i: int, q: str) -> sr.SlackReply:
                await asyncio.sleep(i * stagger_ms / 1000)
                return await sr.send(
                    http, server.url, sr.slash_command(SECRET, q, user_id=f"U{i:04d}")
                )

            replies = await asyncio.gather(*(one(i, q) for i, q in enumerate(questions)))
            ok = await slack.async_wait_for(
                lambda s: (
                    sum(
                        1
                        for m in s.messages()
                        if m.thread_ts is None
                        and "asked" in str(m.blocks)
                        and m.updates
                        and "confidence" in str(m.blocks)
                    )
                    >= requests
                ),
                wait_s=60,
            )
            await asyncio.sleep(0.5)
        await server.stop()
        acks_ms = [r.elapsed_s * 1000 for r in replies]
        statuses = {r.status for r in replies}

        updates: dict[str, list[float]] = defaultdict(list)
        for call in slack.calls_to("chat.update"):
            updates[str(call.body["ts"])].append(call.at)
        results = {m.ts: m for m in slack.messages() if m.thread_ts is None}
        final_delays = []
        max_rate = 0
        gaps: list[float] = []
        for ts, times in updates.items():
            message = results[ts]
            question = next(q for q in questions if q in str(message.blocks))
            times.sort()
            final_delays.append((times[-1] - max(client.answered[question])) * 1000)
            max_rate = max(max_rate, max_per_window(times))
            progress = [message.posted_at, *times[:-1]]  # the last update is the result
            gaps += [b - a for a, b in itertools.pairwise(progress)]

        title = f"Slack load: {requests} concurrent /compare, models 1–3 s"
        if stagger_ms:
            title += f", started {stagger_ms:g} ms apart"
        table = Table(title=title)
        table.add_column("metric")
        table.add_column("value", justify="right")
        table.add_column("target", justify="right")
        table.add_row("HTTP statuses", ", ".join(str(s) for s in sorted(statuses)), "200")
        table.add_row("all results posted", "yes" if ok else "NO", "yes")
        table.add_row("embedder", "real MiniLM" if real_embedder else "fake", "")
        table.add_row("ack p50", f"{statistics.median(acks_ms):.0f} ms", "")
        table.add_row("ack p99", f"{pct(acks_ms, 0.99):.0f} ms", "≤ 300 ms")
        table.add_row("ack max", f"{max(acks_ms):.0f} ms", "")
        if final_delays:
            table.add_row(
                "last answer → final update p50", f"{statistics.median(final_delays):.0f} ms", ""
            )
            table.add_row(
                "last answer → final update p99", f"{pct(final_delays, 0.99):.0f} ms", "≤ 100 ms"
            )
            table.add_row("last answer → final update max", f"{max(final_delays):.0f} ms", "")
        table.add_row("max chat.update per message in any 1 s", str(max_rate), "≈ 1 (+ final)")
        table.add_row(
            "min gap between progress updates",
            f"{min(gaps):.2f} s" if gaps else "n/a",
            "≥ 1 s",
        )
        table.add_row(
            "updates per message (incl. final)",
            f"{statistics.mean(len(t) for t in updates.values()):.1f}" if updates else "0",
            "",
        )
        console.print(table)
    finally:
        openai.stop()
        slack.stop()
        tmp.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--real-embedder", action="store_true")
    parser.add_argument(
        "--stagger-ms",
        type=float,
        default=0.0,
        help="start request i after i*N ms (0: all at once, so all finish at once too)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.real_embedder, args.stagger_ms))
