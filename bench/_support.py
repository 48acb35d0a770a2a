"""What the eval benches share: the fake provider in a process of its own, the
environment a ``quorum`` subprocess runs in, and importing the workload's cases.

Used by :mod:`bench.rate_limits` and :mod:`bench.runner_throughput`; not a bench itself.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from tests.fakes.openai_server import FakeOpenAIServer, ModelScript

ROOT = Path(__file__).resolve().parents[1]
REPLY = "The capital of France is Paris."


class Provider:
    """The fake provider (tests/fakes/openai_server.py) in a process of its own, started
    with ``spawn``: nothing the bench does delays it and its CPU is never counted as a
    measured process's. Every model answers :data:`REPLY` after ``latency_s``; with
    ``rpm``, each model is limited as OpenAI limits it. Asked over a pipe what it saw."""

    def __init__(self, latency_s: float, rpm: float | None = None) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, theirs = ctx.Pipe()
        self._process = ctx.Process(
            target=_serve, args=(theirs, latency_s, rpm), name="fake-provider", daemon=True
        )
        self._process.start()
        theirs.close()
        self.base_url: str = self._ask("base_url")

    def _ask(self, what: str) -> Any:
        self._conn.send(what)
        return self._conn.recv()

    def reset(self) -> None:
        """Forget what it saw (its rate limit, if any, starts afresh)."""
        self._ask("reset")

    def calls(self) -> int:
        return int(self._ask("calls"))

    def counts(self) -> tuple[int, int]:
        """(requests received, requests refused over the limit), read at one moment."""
        calls, refused = self._ask("counts")
        return int(calls), int(refused)

    @property
    def max_in_flight(self) -> int:
        return int(self._ask("max_in_flight"))

    def close(self) -> None:
        with suppress(OSError):
            self._conn.send("stop")
        self._process.join(10)
        self._conn.close()


def _serve(conn: Connection, latency_s: float, rpm: float | None) -> None:
    with FakeOpenAIServer() as server:
        server.default = ModelScript(reply=REPLY, latency=latency_s)

        def limit() -> None:
            if rpm is not None:
                server.rate_limit(rpm=rpm)

        limit()
        while (what := conn.recv()) != "stop":
            if what == "reset":
                server.reset()
                limit()
                conn.send(None)
            elif what == "counts":
                conn.send((server.calls(), server.refused()))
            elif what == "calls":
                conn.send(server.calls())
            else:
                conn.send(getattr(server, what))


@contextmanager
def provider(latency_s: float, rpm: float | None = None) -> Iterator[Provider]:
    """A started :class:`Provider`, stopped on leaving."""
    started = Provider(latency_s, rpm)
    try:
        yield started
    finally:
        started.close()


def quorum_env(work: Path) -> dict[str, str]:
    """The environment a ``quorum`` subprocess runs in: ``work``'s database and
    ``quorum.yaml``, offline models, the bench's provider key, no Slack settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "QUORUM_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{work / 'quorum.db'}",
        QUORUM_CONFIG=str(work / "quorum.yaml"),
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        BENCH_PROVIDER_KEY="sk-bench",
        PYTHONPATH=str(ROOT),
        COLUMNS="160",
    )
    return env


def import_cases(work: Path, *, timeout_s: float | None = None) -> None:
    """``quorum cases import`` of ``work/cases.yaml`` (promptfoo format) into the golden
    set, then ``work/imported.db``: the database every run starts from a copy of."""
    imported = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "cases",
            "import",
            "cases.yaml",
            "--format",
            "promptfoo",
            "--set",
            "golden",
            "--status",
            "active",
            "--no-redact",
        ],
        env=quorum_env(work),
        cwd=work,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if imported.returncode != 0:
        raise SystemExit(f"quorum cases import failed:\n{imported.stdout}{imported.stderr}")
    shutil.copy(work / "quorum.db", work / "imported.db")
