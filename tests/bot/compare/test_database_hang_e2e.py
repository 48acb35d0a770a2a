"""A hung database must not stop answers (issue 10, item 1).

A throwaway PostgreSQL 15 cluster is started for the test (initdb and pg_ctl from
Debian's binaries, on a free port, as the ``postgres`` user when the tests run as root)
and frozen with SIGSTOP, so it accepts connections and answers nothing, exactly as a
hung server does. While it is frozen ``/healthz`` still answers, saying the database is
degraded, Slack's requests are acknowledged, and an answer is posted; its run is
spooled and, once the server runs again, stored exactly once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.compare.run_spool import default_spool
from storage.tables.panel_runs import PanelRunRow
from tests.bot.conftest import Bot, ask, block_text
from tests.net import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
#: Seconds the bot waits on the database in this test (the default is 3).
WRITE_TIMEOUT_S = 1.0


@dataclass
class Cluster:
    url: str
    data: Path
    as_user: list[str]
    frozen: list[int] = field(default_factory=list)

    def pids(self) -> list[int]:
        """The postmaster and every process it started."""
        master = int((self.data / "postmaster.pid").read_text().split()[0])
        found = [master]
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                found.append(int(stat.parent.name))
        return found

    def freeze(self) -> None:
        for pid in self.pids():
            os.kill(pid, signal.SIGSTOP)
            self.frozen.append(pid)

    def thaw(self) -> None:
        while self.frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.frozen.pop(), signal.SIGCONT)


def _run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


@pytest.fixture
def pg_cluster(tmp_path: Path) -> Iterator[Cluster]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL 15 binaries not found in {PG_BIN} (apt install postgresql-15)")
    as_user: list[str] = []
    base = tmp_path
    if os.geteuid() == 0:  # initdb refuses root: run the server as `postgres`
        if shutil.which("runuser") is None:
            pytest.skip("running as root and runuser is missing: cannot start PostgreSQL")
        as_user = ["runuser", "-u", "postgres", "--"]
        # pytest's own tmp folders are private to root; postgres needs its own.
        base = Path(tempfile.mkdtemp(prefix="quorum-pg-"))
        shutil.chown(base, "postgres")
    data = base / "data"
    init = _run([*as_user, str(PG_BIN / "initdb"), "-D", str(data), "-U", "quorum",
                 "--auth=trust", "-E", "UTF8", "--no-sync"])  # fmt: skip
    if init.returncode != 0:
        pytest.skip(f"initdb failed: {init.stderr.strip()[-300:]}")
    port = free_port()
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    start = _run([*as_user, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(base / "log"),
                  "-o", options, "-w", "start"])  # fmt: skip
    if start.returncode != 0:
        pytest.skip(f"pg_ctl start failed: {start.stderr.strip()[-300:]}")
    cluster = Cluster(f"postgresql+psycopg://quorum@127.0.0.1:{port}/postgres", data, as_user)
    try:
        yield cluster
    finally:
        cluster.thaw()
        _run([*as_user, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        if base != tmp_path:
            shutil.rmtree(base, ignore_errors=True)


async def test_a_frozen_database_does_not_stop_answers_or_health(
    bot_factory: Callable[..., Any], pg_cluster: Cluster
) -> None:
    bot: Bot = await bot_factory(
        database_url=pg_cluster.url, env={"quorum_db_write_timeout": WRITE_TIMEOUT_S}
    )
    await ask(bot)  # a healthy start: pooled connections exist when the server hangs
    assert len(bot.rows(PanelRunRow)) == 1
    spool = default_spool(bot.services)
    quick = aiohttp.ClientTimeout(total=WRITE_TIMEOUT_S + 1)

    pg_cluster.freeze()
    try:
        async with bot.http.get(bot.server.health_url, timeout=quick) as resp:
            assert resp.status == 503
            assert (await resp.json())["database"] == "degraded"

        for name in ("alpha", "beta", "gamma"):
            bot.models.script(name, "Rome is the capital of Italy.", latency=0.05)
        reply = await bot.command("What is the capital of Italy?")
        assert reply.status == 200  # acknowledged at once, as Slack needs

        def answered(api: Any) -> bool:
            return any("Rome" in block_text(m.blocks) for m in bot.results())

        # The answer comes while the server is still frozen: within its normal time
        # plus the write timeout (the bound here is generous, for a loaded machine).
        assert await bot.slack.async_wait_for(answered, wait_s=30)
        await bot.slack.async_wait_for(lambda api: spool.pending() == 1, wait_s=30)
        assert spool.pending() == 1  # the run waits in the spool

        async with bot.http.get(bot.server.health_url, timeout=quick) as resp:
            assert (await resp.json())["database"] == "degraded"
    finally:
        pg_cluster.thaw()

    report = spool.replay(bot.db)
    assert (report.applied, report.rejected, report.remaining) == (1, 0, 0)
    questions = sorted(r.question for r in bot.rows(PanelRunRow))
    assert questions == ["What is the capital of France?", "What is the capital of Italy?"]
    await bot.settle()
    async with bot.http.get(bot.server.health_url) as resp:
        assert (await resp.json())["database"] == "ok"
