"""The Slack side's database guard stays usable when another event loop used it: a
scheduled job runs in a thread with a loop of its own, which ends when the job does."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, cast

from bot.runtime.db_guard import DbGuard
from storage.db import Database


class SlowPing:
    """A database whose ``SELECT 1`` answers once ``release`` is set."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def ping(self) -> bool:
        return self.release.wait(5.0)


def test_a_probe_left_running_by_an_ended_loop_does_not_wedge_the_guard() -> None:
    db = SlowPing()
    guard = DbGuard(cast(Database, cast(Any, db)), 3.0)
    try:

        async def job_that_ends_with_a_probe_in_flight() -> None:
            guard.probe()

        asyncio.run(job_that_ends_with_a_probe_in_flight())
        db.release.set()
        # Before: health() raised (the probe belonged to the ended loop), and once that
        # probe was old the guard said "degraded" for good; /healthz and every Slack
        # write then waited on a probe that could never finish.
        assert asyncio.run(guard.health()) == "ok"

        async def write() -> str:
            return await guard.call(lambda: "stored")

        assert asyncio.run(write()) == "stored"
    finally:
        guard.close()
