"""Bounded waits on the database for everything a Slack request waits on.

A database that hangs (frozen, overloaded, behind a dead network path) must not hold up
answers, acks or ``/healthz``. Every call the Slack side makes goes through
:meth:`DbGuard.call`: it runs in a thread of the guard's own pool (the event loop never
blocks) and is given up after ``timeout_s``, raising
:class:`evals.errors.DatabaseUnavailableError` exactly like a refused connection, so the
caller spools the write. A database that timed out is *degraded*: later calls fail at
once, without waiting again, until a background probe sees it answer. The abandoned
thread finishes (or fails) when the database comes back; writes that may land that
way claim their spool entry's id, so the replay never applies them twice.

The server-side statement timeout and the client's connect timeout (set on every
connection by :class:`storage.db.Database`) free those threads when the server is
alive but slow; a frozen server is covered by the wait here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypeVar

from evals.errors import DatabaseUnavailableError
from storage.db import Database

log = logging.getLogger(__name__)

T = TypeVar("T")
State = Literal["ok", "degraded", "unreachable"]

#: Threads for database work on the Slack path (a hung database can hold some of them).
WORKERS = 16
#: How long /healthz waits for a fresh probe before it reports "degraded".
HEALTH_WAIT_S = 0.5


class DbGuard:
    def __init__(self, db: Database, timeout_s: float, *, workers: int = WORKERS) -> None:
        self.db = db
        self.timeout_s = timeout_s
        self.state: State = "ok"
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="db")
        self._probe_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="db-probe")
        self._probe: asyncio.Future[bool] | None = None
        self._probe_started = 0.0

    async def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` in a worker thread, given up after ``timeout_s``."""
        if self.state == "degraded":
            self.probe()
            raise DatabaseUnavailableError(
                "the database did not answer recently; not waiting on it until it does"
            )
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, fn)
        try:
            result = await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            self._set("degraded")
            self.probe()
            raise DatabaseUnavailableError(
                f"the database did not answer within {self.timeout_s:g} s"
            ) from None
        except DatabaseUnavailableError:
            self._set("unreachable")
            raise
        self._set("ok")
        return result

    def _in_flight(self) -> asyncio.Future[bool] | None:
        """The probe still running for this event loop. One started on another loop (a
        scheduled job's, run in a thread of its own and maybe ended since) can never be
        awaited here, nor finish here: it does not count."""
        probe = self._probe
        if probe is None or probe.done() or probe.get_loop() is not asyncio.get_running_loop():
            return None
        return probe

    def probe(self) -> asyncio.Future[bool]:
        """Start a ``SELECT 1`` in the background unless one is in flight."""
        probe = self._in_flight()
        if probe is None:
            loop = asyncio.get_running_loop()
            self._probe_started = time.monotonic()
            probe = self._probe = loop.run_in_executor(self._probe_pool, self.db.ping)
            probe.add_done_callback(self._probed)
        return probe

    def _probed(self, future: asyncio.Future[bool]) -> None:
        if future.cancelled():
            return
        ok = future.exception() is None and bool(future.result())
        self._set("ok" if ok else "unreachable")

    async def health(self) -> State:
        """The database's state, waiting at most ``HEALTH_WAIT_S`` (never on a probe
        that has already been stuck longer than that)."""
        fresh = self._in_flight() is None
        probe = self.probe()
        left = HEALTH_WAIT_S - (time.monotonic() - self._probe_started)
        if not probe.done():
            if fresh or left > 0:
                try:
                    await asyncio.wait_for(asyncio.shield(probe), max(left, 0.0))
                except TimeoutError:
                    self._set("degraded")
            else:
                self._set("degraded")
        return self.state

    def _set(self, state: State) -> None:
        if state != self.state:
            level = logging.INFO if state == "ok" else logging.WARNING
            log.log(level, "database is now %s (was %s)", state, self.state)
            self.state = state

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._probe_pool.shutdown(wait=False, cancel_futures=True)
