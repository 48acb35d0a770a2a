"""APScheduler wiring: the weekly benchmark and digest on the cron schedules of
:mod:`bot.schedule.cron`, plus every process's housekeeping.

APScheduler only says *when*; the database says *whether*: every firing goes through
:func:`bot.schedule.jobs.run_job`, which claims the (job, period) row first, so two processes
(the bot and a ``quorum clock``) or a restart never run a period twice.

On start, a firing missed while no process was up runs once if it is still inside the
grace window (``schedule.grace_minutes``); older ones are recorded as missed and the
next digest mentions them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from bot.runtime.services import Services
from bot.schedule import calibrators, jobs
from bot.schedule.cron import JOB_DIGEST, JobSchedule, build_schedules, plan_catch_up

log = logging.getLogger("quorum.scheduler")

#: How often a process checks whether another one refitted the calibrator.
CALIBRATOR_REFRESH_MINUTES = 15

#: Runs one job for one scheduled firing (None: on demand). See :func:`bot.schedule.jobs.run_job`.
JobRunner = Callable[[str, datetime | None], Any]


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
        calibrators.refresh_calibrator,
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
    """Add Quorum's jobs to ``scheduler`` for ``services``."""
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
    if any(s.job == JOB_DIGEST for s in schedules) and not services.config.slack.digest_channel:
        log.warning(NO_DIGEST_CHANNEL)
    return scheduler


#: Said once on start (no traceback) when the digest is scheduled with nowhere to go.
NO_DIGEST_CHANNEL = (
    "The weekly digest is scheduled but `slack.digest_channel` is not set, so it will not "
    "be posted (the calibrator refit still runs). Set it in quorum.yaml to a channel id "
    "such as C0123456789 and invite the bot there, or set `schedule.digest: null`."
)


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


def run_clock(services: Services) -> None:
    """``quorum clock``: only the scheduler, in the foreground, until interrupted."""
    scheduler = BlockingScheduler(timezone=services.config.schedule.timezone)
    wire(scheduler, services)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)
