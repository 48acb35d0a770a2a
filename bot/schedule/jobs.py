"""The scheduled jobs as plain functions over :class:`~bot.runtime.services.Services`.

:func:`run_job` is the one door: it works out the job's period, lets the database
decide whether this process runs it (``storage.job_repo.claim_period``), runs it and
records how it ended. The scheduler, ``quorum digest --post`` and tests all go through
it, so a period is handled once whoever asks.

- ``benchmark``: the panel and the shadow candidates on every active case.
- ``digest``: refits the calibrator (once per period), builds the weekly digest, posts
  it with its chart to ``slack.digest_channel``.

Every job runs for one workspace, on that workspace's rows, keyed by (workspace, job,
period); :func:`run_for_all` runs it for each workspace the directory lists, each
digest posted with that workspace's client to that workspace's channel.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.compare.channels import channels
from bot.eval_runs.options import SetChoice
from bot.eval_runs.plan import EvalRunRequest, NoActiveCases
from bot.eval_runs.service import EvalRunService
from bot.messages.digest import digest_blocks, digest_text
from bot.messages.digest_chart import chart_png
from bot.runtime.services import Services
from bot.schedule.calibrators import JOB_REFIT, refit_job
from bot.schedule.cron import (
    JOB_BENCHMARK,
    JOB_DIGEST,
    JobSchedule,
    build_schedules,
    iso_week,
    process_owner,
)
from bot.slack.errors import NOT_IN_CHANNEL_ERRORS, slack_error_code
from bot.slack.workspaces import Workspace, directory
from evals.digest.sections import Digest, build_digest
from evals.digest.week_data import RefitInfo
from evals.errors import ConfigError, QuorumError, new_reference
from storage import digest_queries, job_repo, signals_repo, workspace_repo
from storage.tables.jobs import JobStatus

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger("quorum.jobs")

WEEK = timedelta(days=7)
HISTORY_WEEKS = 10
JOBS = (JOB_BENCHMARK, JOB_DIGEST)


@dataclass(frozen=True)
class JobOutcome:
    job: str
    period: str
    workspace: str
    ran: bool  # False: another process (or an earlier run) has this period
    status: JobStatus | None  # None when not ran: see ``existing``
    detail: str
    existing: job_repo.JobPeriod | None = None


@dataclass(frozen=True)
class WeeklyDigest:
    digest: Digest
    chart: bytes | None


def schedule_for(services: Services, job: str) -> JobSchedule | None:
    return next((s for s in build_schedules(services.config) if s.job == job), None)


def tz(services: Services) -> ZoneInfo:
    return ZoneInfo(services.config.schedule.timezone)


def period_for(services: Services, job: str, when: datetime) -> str:
    """The job's exactly-once key for a run at ``when`` (ISO week in the configured zone
    when the job is weekly or not scheduled at all)."""
    schedule = schedule_for(services, job)
    return schedule.period_for(when) if schedule else iso_week(when, tz(services))


def known_workspaces(services: Services) -> list[str]:
    """The workspaces the database knows (a ``workspaces`` row: claimed at start, or set
    from Slack), for the scheduler's bookkeeping, which cannot wait on Slack."""
    with services.db.session() as session:
        return [w for w in workspace_repo.workspaces_with_data(session) if w]


def last_seen(services: Services, job: str) -> datetime | None:
    """When the job last claimed a period in every known workspace (the earliest of
    their latest runs; None when one has none)."""
    seen: list[datetime] = []
    for workspace in known_workspaces(services):
        latest = job_repo.latest_period(services.db, job, workspace=workspace)
        if latest is None:
            return None
        seen.append(latest.scheduled_for or latest.started_at)
    return min(seen) if seen else None


def record_missed(services: Services, schedule: JobSchedule, fire: datetime) -> None:
    period = schedule.period_for(fire)
    for workspace in known_workspaces(services):
        if job_repo.mark_missed(
            services.db,
            schedule.job,
            period,
            workspace=workspace,
            now=services.clock.now(),
            scheduled_for=fire,
            detail=f"no process ran it within {schedule.grace} of {fire.isoformat()}",
        ):
            log.warning(
                "the %s for %s of %s was missed (due %s); skipped",
                schedule.job,
                period,
                workspace,
                fire,
            )


# -- the door ------------------------------------------------------------------------------


async def run_job(
    services: Services,
    job: str,
    *,
    workspace: str,
    client: AsyncWebClient | None = None,
    scheduled_for: datetime | None = None,
    force: bool = False,
) -> JobOutcome:
    """Run ``job`` for ``workspace`` for the period of ``scheduled_for`` (now when None),
    once. ``client`` speaks for the workspace in Slack (the digest is posted with it)."""
    if job not in JOBS:
        raise ConfigError(f"unknown job {job!r}; expected one of: {', '.join(JOBS)}")
    now = services.clock.now()
    when = scheduled_for or now
    period = period_for(services, job, when)
    ws = workspace
    if force:
        job_repo.force_claim(services.db, job, period, workspace=ws, now=now, owner=process_owner())
    elif not job_repo.claim_period(
        services.db,
        job,
        period,
        workspace=ws,
        now=now,
        owner=process_owner(),
        scheduled_for=scheduled_for,
    ):
        existing = job_repo.get_period(services.db, job, period, workspace=ws)
        log.info("%s for %s of %s already handled (%s); skipping", job, period, ws, existing)
        return JobOutcome(job, period, ws, False, None, "already handled", existing)
    try:
        if job == JOB_DIGEST:
            detail = await digest_job(
                services, workspace=ws, client=client, end=when, period=period
            )
        else:
            detail = await benchmark_job(services, workspace=ws, period=period)
    except Exception as exc:
        ref = new_reference()
        message = _failure_text(services, exc, ws)
        log.error("%s for %s of %s failed [%s]", job, period, ws, ref, exc_info=True)
        job_repo.mark_failed(
            services.db,
            job,
            period,
            workspace=ws,
            now=services.clock.now(),
            detail=f"{message} (ref {ref})",
        )
        return JobOutcome(job, period, ws, True, JobStatus.FAILED, f"{message} (ref {ref})")
    job_repo.mark_done(
        services.db, job, period, workspace=ws, now=services.clock.now(), detail=detail
    )
    return JobOutcome(job, period, ws, True, JobStatus.DONE, detail)


def _failure_text(services: Services, exc: Exception, workspace: str) -> str:
    """What an operator reads about a failed job (CLI, the job's row, the next digest)."""
    if isinstance(exc, QuorumError):
        return exc.user_message
    code = slack_error_code(exc)
    if code in NOT_IN_CHANNEL_ERRORS:
        channel = channels(services, workspace)[0]
        return (
            f"Slack refused to post in {channel} ({code}): "
            "invite the bot to that channel or choose another (`/compare digest here`)"
        )
    if code:
        return f"Slack refused the call ({code})"
    return "unexpected error"


async def run_for_all(
    services: Services, job: str, *, scheduled_for: datetime | None = None
) -> list[JobOutcome]:
    """``job`` once for each workspace the directory lists, each with its own client; a
    workspace failing does not stop the others."""
    outcomes = []
    listed: list[tuple[Workspace, AsyncWebClient | None]]
    found = directory(services)
    if found is None:
        # No Slack at all (a benchmark-only deployment): the workspaces the database
        # knows, with no client (a digest then says it cannot post).
        listed = [(Workspace(w), None) for w in known_workspaces(services)]
    else:
        listed = [(w, await found.client_for(w)) for w in await found.installed()]
    for workspace, client in listed:
        with services.db.session() as session:
            workspace_repo.ensure_workspace(
                session, workspace.id, enterprise_id=workspace.enterprise_id
            )
        outcomes.append(
            await run_job(
                services, job, workspace=workspace.id, client=client, scheduled_for=scheduled_for
            )
        )
    return outcomes


def run_job_blocking(
    services: Services, job: str, scheduled_for: datetime | None
) -> list[JobOutcome]:
    """For the scheduler's worker threads: the job, for every workspace, in its own
    event loop."""
    return asyncio.run(run_for_all(services, job, scheduled_for=scheduled_for))


async def client_for(services: Services, workspace: str) -> AsyncWebClient | None:
    """The client that speaks for ``workspace`` (None: no token, or not one of ours)."""
    found = directory(services)
    if found is None:
        return None
    for known in await found.installed():
        if known.id == workspace:
            return await found.client_for(known)
    return None


# -- digest --------------------------------------------------------------------------------


def history_labels(end: datetime, zone: ZoneInfo, weeks: int = HISTORY_WEEKS) -> list[str]:
    """ISO week of the middle of each of the ``weeks`` weekly windows ending at ``end``."""
    return [iso_week(end - (weeks - 1 - i) * WEEK - WEEK / 2, zone) for i in range(weeks)]


def refit_info(services: Services, period: str, workspace: str) -> RefitInfo | None:
    refit = job_repo.get_period(services.db, JOB_REFIT, period, workspace=workspace)
    if refit is None or refit.status is not JobStatus.DONE or not refit.detail:
        return None
    try:
        data = json.loads(refit.detail)
        return RefitInfo(bool(data["refitted"]), str(data["reason"]), data.get("calibrator_id"))
    except (ValueError, KeyError, TypeError):
        return None


def weekly_digest(
    services: Services, *, workspace: str, end: datetime, period: str, with_chart: bool = True
) -> WeeklyDigest:
    """``workspace``'s digest of the 7 days before ``end`` and its chart (reads only its
    rows)."""
    zone = tz(services)
    start = end - WEEK
    with services.db.session() as session:
        data = digest_queries.gather(
            session,
            workspace=workspace,
            period=period,
            start=start,
            end=end,
            timezone=services.config.schedule.timezone,
            panel=[m.name for m in services.members],
            shadow=[m.name for m in services.shadow],
            history_labels=history_labels(end, zone),
            refit=refit_info(services, period, workspace),
        )
    digest = build_digest(data)
    if not with_chart:
        return WeeklyDigest(digest, None)
    return WeeklyDigest(digest, chart_for(digest))


def chart_for(digest: Digest) -> bytes:
    """The digest's chart; its title names the same week as the digest's header."""
    return chart_png(
        digest.history,
        weeks=digest.history_weeks,
        title=f"Quorum weekly digest · {digest.period}: eval pass rate and thumbs-up rate per model",
    )


async def post_digest(
    services: Services, weekly: WeeklyDigest, *, workspace: str, client: AsyncWebClient | None
) -> str:
    """Post ``workspace``'s digest with its client to its channel and upload its chart;
    returns the message ts."""
    channel = channels(services, workspace)[0]
    if not channel:
        raise ConfigError(
            "No digest channel configured: say `/compare digest here` in a channel, or set "
            "`slack.digest_channel` in quorum.yaml (a channel id such as C0123456789), and "
            "invite the bot there."
        )
    if client is None:
        if services.settings.slack_bot_token is None:
            raise ConfigError("SLACK_BOT_TOKEN is not set; the digest cannot be posted.")
        raise ConfigError(f"No Slack client for workspace {workspace}; the digest is not posted.")
    posted = await client.chat_postMessage(
        channel=channel,
        text=digest_text(weekly.digest),
        blocks=digest_blocks(weekly.digest, chart_attached=True),
        unfurl_links=False,
    )
    ts = str(posted["ts"])
    await client.files_upload_v2(
        channel=channel,
        content=weekly.chart if weekly.chart is not None else chart_for(weekly.digest),
        filename=f"quorum-digest-{weekly.digest.period}.png",
        title=f"Quorum weekly digest {weekly.digest.period}: pass rate and 👍 rate per model",
    )
    return ts


async def digest_job(
    services: Services,
    *,
    workspace: str,
    client: AsyncWebClient | None,
    end: datetime,
    period: str,
) -> str:
    refit = refit_job(services, workspace=workspace, period=period)
    if refit is not None:
        log.info("calibrator refit for %s of %s: %s", period, workspace, refit.reason)
    channel = channels(services, workspace)[0]
    if not channel:
        # Warned about once on start (bot.schedule.scheduler); not an error on every firing.
        log.info("digest for %s of %s not posted: no digest channel", period, workspace)
        return "not posted: no slack.digest_channel is set"
    weekly = weekly_digest(services, workspace=workspace, end=end, period=period)
    client = client or await client_for(services, workspace)
    ts = await post_digest(services, weekly, workspace=workspace, client=client)
    return f"posted to {channel} (ts {ts})"


#: Delivery keys are kept at least this long (Slack retries within minutes).
DELIVERY_RETENTION = timedelta(days=2)


def prune_deliveries(services: Services) -> int:
    """Forget old Slack delivery keys. They also count each person's questions for the
    rate limit, so keep at least twice its window."""
    window = timedelta(minutes=services.config.limits.per_user_window_minutes)
    keep = max(DELIVERY_RETENTION, 2 * window)
    with services.db.session() as session:
        removed = signals_repo.prune_deliveries(session, services.clock.now() - keep)
    if removed:
        log.info("forgot %d Slack delivery keys older than %s", removed, keep)
    return removed


# -- benchmark -----------------------------------------------------------------------------


#: Samples per case and calls at once for the scheduled benchmark (`quorum eval run`'s
#: defaults).
BENCHMARK_SAMPLES = 3
BENCHMARK_CONCURRENCY = 8


async def benchmark_job(services: Services, *, workspace: str, period: str) -> str:
    """The panel and the shadow candidates on every active case (golden and rotating),
    stored as an eval run like `quorum eval run --set all`: the same eval-run service.
    With a task queue configured (``QUORUM_TASK_QUEUE``) the run is only planned and
    queued here; `quorum worker` processes run it."""
    service = EvalRunService(services)
    request = EvalRunRequest(
        workspace=workspace,
        case_set=SetChoice.ALL,
        samples=BENCHMARK_SAMPLES,
        concurrency=BENCHMARK_CONCURRENCY,
    )
    try:
        plan = service.plan(request)
    except NoActiveCases:
        return "no active eval cases; nothing to benchmark"
    size = f"{len(plan.cases)} cases x {len(plan.members)} models x {plan.config.samples} samples"
    queue_url = services.settings.quorum_task_queue
    if queue_url:
        # Lazy: procrastinate takes ~0.2 s to import, and only this job and `quorum worker`
        # use it (fast CLI start).
        from bot.eval_runs.task_queue import enqueue_run

        queued = await enqueue_run(services, queue_url, plan)
        return (
            f"eval run {queued.run_id} ({period}) queued for the workers in "
            f"{len(queued.job_ids)} jobs: {size}"
        )
    report = await service.run(plan)
    return f"eval run {report.run_id} ({period}): {report.status.value}, {size}"
