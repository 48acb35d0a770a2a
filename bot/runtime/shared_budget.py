"""People first across processes: a budget shared through the database.

Within one process the rate limiter serves people before background work
(:class:`evals.models.rate_limits.Priority`). Across processes (the web process answers
``/compare`` while ``quorum worker`` or ``quorum eval run`` runs a benchmark on the same
keys) the processes share a record of interactive demand in Quorum's own database:

- :class:`DemandRecorder`, in the process serving people, counts each model call a
  person caused (the limiter tells it every granted try; counting is a dict increment on
  the hot path) and adds the counts to ``interactive_demand`` at most once a second (the
  first call after a quiet spell at once), from a thread of the
  :class:`~bot.runtime.db_guard.DbGuard`. Nothing is written while nobody
  asks. A database that is down or slow costs an answer nothing: that second's count is
  dropped (the benchmark then backs off a second later, or not at all).
- :class:`DemandReserver`, in every process running background work (the eval run, each
  of its ``--workers`` processes, ``quorum worker``), reads the last :data:`WINDOW` of
  demand every :data:`POLL_S` seconds (off the event loop) and reserves
  :data:`HEADROOM` times that rate (over the seconds the calls were recorded in: a burst
  counts at its own rate) of each member for people
  (:meth:`~evals.models.rate_limits.RateLimiter.reserve`): the benchmark's calls slow
  down to what is left of the member's configured or learned rate. When nobody has asked
  for :data:`WINDOW`, the reservation is lifted and the benchmark uses the full rate
  again; when the database has not answered for that long, too (the benchmark is never
  held back by a record it cannot read).

Clocks: demand is stored by UTC second, so the processes' clocks must agree to within
about a second (NTP does far better).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from datetime import timedelta

from bot.runtime.db_guard import DbGuard
from bot.runtime.services import Services
from evals.errors import StorageError
from evals.models.rate_limits import LimitedClient, Priority, RateLimiter
from evals.protocols import Clock
from storage import demand_repo
from storage.demand_repo import MemberDemand

log = logging.getLogger(__name__)

#: How often at most the recorder writes its counts (the first after a quiet spell at
#: once), and how often the reserver reads them (one indexed SELECT).
FLUSH_S = 1.0
POLL_S = 0.5
#: How far back demand is measured: people's calls come in bursts (a /compare asks
#: every member at once), and a benchmark should not speed up between two questions.
WINDOW = timedelta(seconds=10)
#: The reservation, as a multiple of the measured rate: room for the next burst.
HEADROOM = 3.0


#: Set inside :func:`reserving`: a nested one (a queued job inside `quorum worker`,
#: which already reserves for the whole process) does nothing.
_RESERVING: ContextVar[bool] = ContextVar("quorum_reserving", default=False)


def limiter_of(services: Services) -> RateLimiter | None:
    client = services.client
    return client.limiter if isinstance(client, LimitedClient) else None


class DemandRecorder:
    """Counts people's model calls in this process and writes them once a second."""

    def __init__(self, guard: DbGuard, clock: Clock) -> None:
        self._guard = guard
        self._clock = clock
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()  # the limiter is shared by every loop in the process
        self._pending = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def note(self, member: str, priority: Priority) -> None:
        """The limiter's observer: count a granted try a person waits for. The first
        count after a quiet spell wakes the writer at once (benchmarks back off sooner)."""
        if priority is not Priority.INTERACTIVE:
            return
        with self._lock:
            first = not self._counts
            self._counts[member] += 1
        if first and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # its loop closed meanwhile
                self._loop.call_soon_threadsafe(self._pending.set)

    async def flush(self) -> None:
        with self._lock:
            counts, self._counts = dict(self._counts), Counter()
        if not counts:
            return
        at = self._clock.now()
        db = self._guard.db
        try:
            await self._guard.call(lambda: demand_repo.record_interactive(db, counts, at=at))
        except StorageError as exc:  # never an answer's problem: this second is skipped
            log.info("interactive demand not recorded (%s); benchmarks will not back off", exc)

    async def run(self, every_s: float = FLUSH_S) -> None:
        """Flush as soon as people ask, then at most every ``every_s`` seconds, until
        cancelled."""
        self._loop = asyncio.get_running_loop()
        if self._counts:  # asked before this started
            self._pending.set()
        while True:
            await self._pending.wait()
            self._pending.clear()
            await self.flush()
            await asyncio.sleep(every_s)
            if self._counts:  # asked meanwhile: the next flush is due now
                self._pending.set()


class DemandReserver:
    """Reads people's recent demand and reserves it in this process's limiter."""

    def __init__(
        self,
        guard: DbGuard,
        limiter: RateLimiter,
        clock: Clock,
        *,
        window: timedelta = WINDOW,
        headroom: float = HEADROOM,
    ) -> None:
        self._guard = guard
        self._limiter = limiter
        self._clock = clock
        self._window = window
        self._headroom = headroom
        self._reserved: set[str] = set()
        self._last_read = clock.now()

    async def poll(self) -> None:
        now = self._clock.now()
        db = self._guard.db
        since = now - self._window
        try:
            demand = await self._guard.call(lambda: demand_repo.interactive_demand(db, since=since))
        except StorageError as exc:
            if now - self._last_read >= self._window and self._reserved:
                log.info("interactive demand unreadable (%s): background uses full rates", exc)
                self._apply({})
            return
        self._last_read = now
        self._apply(demand)

    def lift(self) -> None:
        """Give every member's full rate back to background calls."""
        self._apply({})

    def _apply(self, demand: Mapping[str, MemberDemand]) -> None:
        for member in self._reserved - demand.keys():
            self._limiter.reserve(member, 0)
        for member, seen in demand.items():
            # The rate over the seconds the calls were recorded in (at most the window):
            # a burst that just began counts at its own rate, not a tenth of it.
            span = (seen.last - seen.first).total_seconds() + 1.0
            span = min(span, self._window.total_seconds())
            self._limiter.reserve(member, seen.calls / span * 60 * self._headroom)
        self._reserved = set(demand)

    async def run(self, every_s: float = POLL_S) -> None:
        """Poll every ``every_s`` seconds until cancelled."""
        while True:
            await asyncio.sleep(every_s)
            await self.poll()


@contextlib.asynccontextmanager
async def recording_demand(
    services: Services, every_s: float = FLUSH_S
) -> AsyncIterator[DemandRecorder | None]:
    """In the process serving people: record their demand while inside."""
    limiter = limiter_of(services)
    if limiter is None:
        yield None
        return
    recorder = DemandRecorder(services.db_guard, services.clock)
    limiter.observe(recorder.note)
    task = asyncio.create_task(recorder.run(every_s), name="interactive-demand")
    try:
        yield recorder
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        limiter.unobserve(recorder.note)


@contextlib.asynccontextmanager
async def people_first(
    services: Services, every_s: float = POLL_S
) -> AsyncIterator[DemandReserver | None]:
    """In a process running background work: leave people's demand to them while inside
    (once per process: nested, it does nothing)."""
    limiter = limiter_of(services)
    if limiter is None or _RESERVING.get():
        yield None
        return
    # A guard of its own: a scheduled benchmark runs on its own event loop in a thread,
    # and the Slack side's guard (its probe) belongs to the main loop.
    guard = DbGuard(services.db, services.settings.quorum_db_write_timeout, workers=2)
    try:
        async with reserving(guard, limiter, services.clock, every_s) as reserver:
            yield reserver
    finally:
        guard.close()


@contextlib.asynccontextmanager
async def reserving(
    guard: DbGuard, limiter: RateLimiter, clock: Clock, every_s: float = POLL_S
) -> AsyncIterator[DemandReserver]:
    reserver = DemandReserver(guard, limiter, clock)
    reserving_token = _RESERVING.set(True)
    await reserver.poll()  # before the first call: a person may be asking right now
    task = asyncio.create_task(reserver.run(every_s), name="people-first")
    try:
        yield reserver
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        reserver.lift()
        _RESERVING.reset(reserving_token)
