"""When each job is due: cron schedules from quorum.yaml, their exactly-once periods, and
what a starting process owes after a time with no process up.

Pure: no APScheduler job store, no database. :mod:`bot.schedule.scheduler` wires these into
APScheduler; :mod:`bot.schedule.jobs` uses the periods to claim each run once.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bot.runtime.config import QuorumConfig
from evals.errors import ConfigError

JOB_BENCHMARK = "benchmark"
JOB_DIGEST = "digest"
#: How far back a restart looks for firings it missed.
MAX_LOOKBACK = timedelta(weeks=12)
WEEK = timedelta(days=7)
#: At most this many missed firings are recorded per job (a frequent cron after a long
#: outage would otherwise flood the digest).
MAX_MISSED = 20
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


def process_owner() -> str:
    """Who claims a job's period in the database: this host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"
