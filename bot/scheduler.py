"""APScheduler wiring: the weekly benchmark and digest on cron schedules from quorum.yaml.

APScheduler only says *when*; the database says *whether*: every firing goes through
:func:`bot.jobs.run_job`, which claims the (job, period) row first, so two processes
(the bot and a ``quorum clock``) or a restart never run a period twice.

On start, a firing missed while no process was up runs once if it is still inside the
grace window (``schedule.grace_minutes``); older ones are recorded as missed and the
next digest mentions them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.config import QuorumConfig
from evals.errors import ConfigError

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger("quorum.scheduler")

JOB_BENCHMARK = "benchmark"
JOB_DIGEST = "digest"
#: How far back a restart looks for firings it missed.
MAX_LOOKBACK = timedelta(weeks=12)
WEEK = timedelta(days=7)
#: At most this many missed firings are recorded per job (a frequent cron after a long
#: outage would otherwise flood the digest).
MAX_MISSED = 20
#: How often a process checks whether another one refitted the calibrator.
CALIBRATOR_REFRESH_MINUTES = 15

#: Runs one job for one scheduled firing (None: on demand). See :func:`bot.jobs.run_job`.
JobRunner = Callable[[str, datetime | None], Any]

_NUMERIC_DOW = re.compile(r"(^|[,\-])\d")


def iso_week(when: datetime, tz: ZoneInfo) -> str:
    """The ISO week (``2026-W48``) that ``when`` falls in, in ``tz``."""
    year, week, _ = when.astimezone(tz).isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class JobSchedule:
    """When one job fires, in the configured time zone, and how late it may still run."""

    job: str
    cron: str
    tz: ZoneInfo
    grace: timedelta
    trigger: CronTrigger

    @classmethod
    def parse(cls, job: str, cron: str, timezone: str, grace: timedelta) -> JobSchedule:
        fields = cron.split()
        if len(fields) != 5:
            raise ConfigError(
                f"schedule.{job}: {cron!r} is not a cron expression; expected 5 fields "
                "(minute hour day month weekday), e.g. '0 9 * * mon'"
            )
        if _NUMERIC_DOW.search(fields[4]):
            raise ConfigError(
                f"schedule.{job}: write the weekday by name (mon, tue, ... sun) in {cron!r}; "
                "day numbers mean different days in different cron dialects"
            )
        tz = ZoneInfo(timezone)
        try:
            trigger = CronTrigger.from_crontab(cron, timezone=tz)
        except ValueError as exc:
            raise ConfigError(
                f"schedule.{job}: {cron!r} is not a valid cron expression: {exc}"
            ) from None
        return cls(job=job, cron=cron, tz=tz, grace=grace, trigger=trigger)

    def next_fire(self, at_or_after: datetime) -> datetime | None:
        """The first firing at or after ``at_or_after`` (UTC)."""
        fire: datetime | None = self.trigger.get_next_fire_time(None, at_or_after)
        return fire.astimezone(UTC) if fire else None

    def fires_between(
        self, start: datetime, end: datetime, *, limit: int | None = None
    ) -> list[datetime]:
        """Firings ``f`` with ``start < f <= end`` (UTC), oldest first (the first
        ``limit`` of them when given)."""
        fires: list[datetime] = []
        cursor = start + timedelta(microseconds=1)
        while (fire := self.next_fire(cursor)) is not None and fire <= end:
            fires.append(fire)
            if limit is not None and len(fires) >= limit:
                break
            cursor = fire + timedelta(seconds=1)
        return fires

    def latest_fire(self, now: datetime) -> datetime | None:
        """The most recent firing at or before ``now`` within the look-back."""
        for window in (timedelta(days=1), timedelta(days=8), MAX_LOOKBACK):
            fires = self.fires_between(now - window, now)
            if fires:
                return fires[-1]
        return None

    @cached_property
    def weekly(self) -> bool:
        """True when the job fires at most once per ISO week (the default schedules)."""
        start = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday; any fixed reference works
        fires = self.fires_between(start, start + timedelta(weeks=8), limit=20)
        weeks = [iso_week(f, self.tz) for f in fires]
        return len(weeks) == len(set(weeks))

    def period_for(self, when: datetime) -> str:
        """The exactly-once key for a run at ``when``: the ISO week for weekly schedules,
        otherwise the local time of the latest firing (``2026-11-23T09:00``)."""
        if self.weekly:
            return iso_week(when, self.tz)
        fire = self.latest_fire(when) or when
        return fire.astimezone(self.tz).strftime("%Y-%m-%dT%H:%M")


@dataclass(frozen=True)
class CatchUp:
    """What a starting process owes a schedule: at most one late run, and the misses."""

    run: datetime | None
    missed: tuple[datetime, ...]


def plan_catch_up(schedule: JobSchedule, now: datetime, last_seen: datetime | None) -> CatchUp:
    """Firings since ``last_seen`` (the job's latest recorded run) that no process ran.

    The latest one runs if it is within the grace window; every other one is missed.
    With no history at all (a fresh install) only a firing within the grace window counts.
    """
    start = max(last_seen, now - MAX_LOOKBACK) if last_seen else now - schedule.grace
    fires = schedule.fires_between(start, now)
    if not fires:
        return CatchUp(run=None, missed=())
    latest = fires[-1]
    if now - latest <= schedule.grace:
        return CatchUp(run=latest, missed=tuple(fires[:-1][-MAX_MISSED:]))
    return CatchUp(run=None, missed=tuple(fires[-MAX_MISSED:]))


def build_schedules(config: QuorumConfig) -> list[JobSchedule]:
    sched = config.schedule
    grace = timedelta(minutes=sched.grace_minutes)
    out: list[JobSchedule] = []
    if sched.benchmark:
        out.append(JobSchedule.parse(JOB_BENCHMARK, sched.benchmark, sched.timezone, grace))
    if sched.digest:
        out.append(JobSchedule.parse(JOB_DIGEST, sched.digest, sched.timezone, grace))
    return out


def _fire(runner: JobRunner, schedule: JobSchedule, clock: Callable[[], datetime]) -> None:
    """The function APScheduler calls: run the job for the firing that just happened."""
    now = clock()
    runner(schedule.job, schedule.latest_fire(now) or now)


def add_jobs(
    scheduler: BaseScheduler,
    schedules: list[JobSchedule],
    runner: JobRunner,
    *,
    now: Callable[[], datetime],
    last_seen: Callable[[str], datetime | None],
    record_missed: Callable[[JobSchedule, datetime], None],
) -> None:
    """Add each schedule's cron job, and its catch-up run (if any) to start at once."""
    for schedule in schedules:
        scheduler.add_job(
            _fire,
            trigger=schedule.trigger,
            args=(runner, schedule, now),
            id=schedule.job,
            name=f"quorum {schedule.job}",
            misfire_grace_time=max(1, int(schedule.grace.total_seconds())),
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )
        plan = plan_catch_up(schedule, now(), last_seen(schedule.job))
        for fire in plan.missed:
            record_missed(schedule, fire)
        if plan.run is not None:
            log.info(
                "running the %s missed at %s (within the grace window)", schedule.job, plan.run
            )
            scheduler.add_job(
                runner,
                args=(schedule.job, plan.run),
                id=f"{schedule.job}-catch-up",
                name=f"quorum {schedule.job} (catch-up)",
                next_run_time=now(),
                misfire_grace_time=None,
                replace_existing=True,
            )


def add_housekeeping(scheduler: BaseScheduler, services: Services) -> None:
    """Every process's housekeeping: a refit in another process (a `quorum clock`)
    reaches this one within minutes, and old Slack delivery keys are forgotten."""
    from bot import jobs

    scheduler.add_job(
        jobs.prune_deliveries,
        trigger="interval",
        hours=1,
        args=(services,),
        id="prune-deliveries",
        name="quorum prune delivery keys",
        coalesce=True,
        max_instances=1,
        replace_existing=True,
    )
    scheduler.add_job(
        jobs.refresh_calibrator,
        trigger="interval",
        minutes=CALIBRATOR_REFRESH_MINUTES,
        args=(services,),
        id="calibrator-refresh",
        name="quorum calibrator refresh",
        coalesce=True,
        max_instances=1,
        replace_existing=True,
    )


def start_housekeeping(services: Services) -> AsyncIOScheduler:
    """For `quorum run --no-scheduler` (web processes): no benchmark or digest, only the
    housekeeping, so a refit made by the `clock` process is served everywhere."""
    scheduler = AsyncIOScheduler(timezone=services.config.schedule.timezone)
    add_housekeeping(scheduler, services)
    scheduler.start()
    return scheduler


def wire(scheduler: BaseScheduler, services: Services) -> BaseScheduler:
    """Add Quorum's jobs to ``scheduler`` for ``services`` (a :class:`bot.services.Services`)."""
    from bot import jobs

    schedules = build_schedules(services.config)
    add_jobs(
        scheduler,
        schedules,
        lambda job, fire: jobs.run_job_blocking(services, job, fire),
        now=services.clock.now,
        last_seen=lambda job: jobs.last_seen(services, job),
        record_missed=lambda schedule, fire: jobs.record_missed(services, schedule, fire),
    )
    add_housekeeping(scheduler, services)
    for schedule in schedules:
        nxt = schedule.next_fire(services.clock.now())
        log.info("%s scheduled (%s, %s); next at %s", schedule.job, schedule.cron, schedule.tz, nxt)
    return scheduler


def in_process_scheduler(services: Services) -> AsyncIOScheduler:
    """For ``quorum run``: jobs run in the bot's event loop's thread pool. Call ``.start()``
    once the loop runs and ``.shutdown()`` on exit."""
    scheduler = AsyncIOScheduler(timezone=services.config.schedule.timezone)
    wire(scheduler, services)
    return scheduler


def start_scheduler(services: Services) -> AsyncIOScheduler:
    """``quorum run``: the in-process scheduler, started on the running event loop."""
    scheduler = in_process_scheduler(services)
    scheduler.start()
    return scheduler


def background_scheduler(services: Services) -> BackgroundScheduler:
    """For processes without an event loop that do other work meanwhile."""
    scheduler = BackgroundScheduler(timezone=services.config.schedule.timezone)
    wire(scheduler, services)
    return scheduler


def run_clock(services: Services) -> None:
    """``quorum clock``: only the scheduler, in the foreground, until interrupted."""
    scheduler = BlockingScheduler(timezone=services.config.schedule.timezone)
    wire(scheduler, services)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)
