"""Benchmark runs spread over `quorum worker` processes on any machine, through
procrastinate, a task queue on the team's PostgreSQL (``QUORUM_TASK_QUEUE``).

- :func:`enqueue_run` (the scheduler, in whichever process holds it) stores the planned
  run and defers one job per batch of :data:`ITEMS_PER_JOB` work items. No model is
  called there.
- :func:`run_worker` (``quorum worker``) takes jobs: each one resumes the run's plan from
  the database, asks and scores the batch's items that have no stored result yet, stores
  them (one row per item: an upsert), and the job that stores the run's last item records
  the run's outcome.
- A worker that dies mid-job (killed, out of memory, its machine gone) stops sending
  procrastinate's heartbeat. Every ``heartbeat`` seconds, one live worker runs
  :func:`retry_stalled_jobs` as a procrastinate periodic task (the way procrastinate's
  "Retry stalled jobs" how-to does it; it has no built-in automatic retry) and puts such
  jobs back in the queue, so another worker finishes them, skipping the items already
  stored. The sweep is taken by a worker with a free slot, which is exactly when a job put
  back could run.
- :func:`watch_run` (``quorum eval run --queue``) follows a queued run from what is
  stored until it is finished, and on Ctrl-C takes the run's jobs that no worker has
  started off the queue.

The queue's tables are created by procrastinate's own schema manager on first use
(:func:`ensure_queue_schema`). Its ``apply_schema_async`` is a plain ``CREATE`` that fails
on a second run and takes no lock, so the check that the tables are missing and the
advisory lock that lets one process at a time create them stay here. Upgrading
procrastinate across a schema change needs its migrations applied (``procrastinate schema``
and the SQL under ``procrastinate/sql/migrations``): it ships no automatic migrator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from procrastinate import App, JobContext, PsycopgConnector
from procrastinate.exceptions import ProcrastinateException
from procrastinate.types import JSONDict

from bot.eval_runs.plan import RunPlan, WorkItem
from bot.eval_runs.service import EvalRunService
from bot.runtime.services import Services
from bot.runtime.shared_budget import people_first
from evals.errors import ConfigError, DatabaseUnavailableError, InputError
from evals.runs.report import EvalReport, RunStatus
from evals.runs.runner import LimitWait, Progress, ProgressCallback
from storage import eval_repo
from storage.db import normalize_url, safe_url

log = logging.getLogger("quorum.worker")

QUEUE = "quorum-benchmark"
TASK_ITEMS = "quorum.benchmark_items"
#: The workers' own upkeep (the stalled-job sweep), kept apart from the benchmark jobs.
UPKEEP_QUEUE = "quorum-upkeep"
TASK_RETRY_STALLED = "quorum.retry_stalled_jobs"
#: Finished sweeps are deleted after this many hours (one is deferred every heartbeat).
UPKEEP_KEPT_HOURS = 1
#: Work items per job: small enough that several workers share a run and a killed
#: worker's job costs little to ask again, large enough that the queue stays cheap.
ITEMS_PER_JOB = 25
#: Samples asked at once inside one job (the scheduled benchmark's concurrency).
JOB_CONCURRENCY = 8
#: PostgreSQL advisory lock held while the queue's tables are created ("QuorumQ").
SCHEMA_LOCK_KEY = 0x51756F72756D51
#: Seconds `quorum eval run --queue` waits for a worker to take a job before saying how
#: to start one.
NO_WORKER_NOTICE_S = 20.0


@dataclass(frozen=True)
class QueuedRun:
    """A run stored in status ``running`` and its items deferred as these jobs."""

    run_id: int
    job_ids: tuple[int, ...]


def conninfo(url: str) -> str:
    """``QUORUM_TASK_QUEUE`` (a SQLAlchemy or libpq PostgreSQL URL) as libpq takes it."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(
            "QUORUM_TASK_QUEUE must be a PostgreSQL URL (postgresql://user:pass@host/db); "
            "the task queue keeps its jobs there"
        )
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def queue_app(
    url: str,
    services: Services | None = None,
    running: set[int] | None = None,
    *,
    sweep_every_s: float = 10.0,
    stalled_after_s: float = 30.0,
) -> App:
    """The procrastinate app on ``url``. A worker passes ``services`` to run the jobs and
    ``running``, the ids of the jobs this process is running at the moment; its app also
    sweeps stalled jobs every ``sweep_every_s`` seconds (jobs of workers whose heartbeat is
    ``stalled_after_s`` seconds old)."""
    app = App(connector=PsycopgConnector(conninfo=conninfo(url), min_size=1, max_size=4))
    here = running if running is not None else set()

    @app.task(name=TASK_ITEMS, queue=QUEUE, pass_context=True)
    async def benchmark_items(context: JobContext, run_id: int, items: list[list[Any]]) -> None:
        if services is None:
            raise RuntimeError("this process only enqueues benchmark jobs")
        job_id = context.job.id
        if job_id is not None:
            here.add(job_id)
        try:
            work = [WorkItem(int(s), str(c), str(m)) for c, m, s in items]
            await run_items(services, run_id, work)
        finally:
            here.discard(job_id)

    if services is not None:

        @app.periodic(cron=sweep_cron(sweep_every_s), periodic_id="stalled-jobs")
        @app.task(
            name=TASK_RETRY_STALLED,
            queue=UPKEEP_QUEUE,
            queueing_lock=TASK_RETRY_STALLED,  # at most one sweep waits for a free slot
            priority=1,  # taken before the benchmark jobs waiting with it
            pass_context=True,
        )
        async def retry_stalled(context: JobContext, timestamp: int) -> None:
            await retry_stalled_jobs(context.app, stalled_after_s, running_here=here)
            await context.app.job_manager.delete_old_jobs(
                nb_hours=UPKEEP_KEPT_HOURS, queue=UPKEEP_QUEUE
            )

    return app


def sweep_cron(every_s: float) -> str:
    """A cron line (procrastinate's, with croniter's sixth field for seconds) firing about
    every ``every_s`` seconds: whole seconds under a minute, whole minutes above."""
    seconds = max(1, math.ceil(every_s))
    if seconds < 60:
        return f"* * * * * */{seconds}"
    return f"*/{min(59, round(seconds / 60))} * * * *"


async def ensure_queue_schema(app: App, url: str) -> None:
    """Create procrastinate's tables with its schema manager on first use, one process at
    a time (``app`` is open)."""
    async with await psycopg.AsyncConnection.connect(conninfo(url), autocommit=True) as conn:
        await conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        try:
            found = await (
                await conn.execute("SELECT to_regclass('procrastinate_jobs')")
            ).fetchone()
            if found is None or found[0] is None:
                log.info("creating the task queue's tables")
                await app.schema_manager.apply_schema_async()
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))


# -- enqueueing ----------------------------------------------------------------------------


async def enqueue_run(services: Services, url: str, plan: RunPlan) -> QueuedRun:
    """Store ``plan`` as a running eval run and defer its pending items as jobs for the
    workers. A resumed run's jobs that no worker has started yet are withdrawn first, so
    no item waits in the queue twice."""
    service = EvalRunService(services)
    run_id = service.start(plan)
    items = plan.pending_items()
    batches = [items[i : i + ITEMS_PER_JOB] for i in range(0, len(items), ITEMS_PER_JOB)]
    jobs: list[JSONDict] = [
        {"run_id": run_id, "items": [[i.case_id, i.model, i.sample] for i in batch]}
        for batch in batches
    ]
    with _queue_errors(url):
        app = queue_app(url)
        async with app.open_async():
            await ensure_queue_schema(app, url)
            withdrawn = await withdraw_jobs(app, run_id) if plan.resumed_from else 0
            ids = await app.configure_task(TASK_ITEMS).batch_defer_async(*jobs) if jobs else []
    log.info(
        "eval run %d: %d items deferred in %d jobs%s",
        run_id,
        len(items),
        len(ids),
        f" ({withdrawn} earlier jobs withdrawn)" if withdrawn else "",
    )
    return QueuedRun(run_id, tuple(ids))


async def withdraw_jobs(app: App, run_id: int) -> int:
    """Cancel the run's jobs that no worker has started; returns how many. Jobs in
    progress are left to finish their batch."""
    withdrawn = 0
    for job in await app.job_manager.list_jobs_async(queue=QUEUE, task=TASK_ITEMS, status="todo"):
        if job.id is not None and job.task_kwargs.get("run_id") == run_id:
            withdrawn += await app.job_manager.cancel_job_by_id_async(job.id)
    return withdrawn


# -- watching ------------------------------------------------------------------------------


async def watch_run(
    services: Services,
    url: str,
    plan: RunPlan,
    queued: QueuedRun,
    *,
    on_progress: ProgressCallback | None = None,
    on_notice: Callable[[str], None] | None = None,
    poll_s: float = 0.5,
    no_worker_notice_s: float = NO_WORKER_NOTICE_S,
) -> EvalReport:
    """Follow a queued run until it is finished; returns its stored report.

    - Progress is read from the stored samples every ``poll_s`` seconds.
    - The job that stores the run's last item records its outcome. When every job of the
      run has ended and the run is still running (a job failed, or someone cancelled it),
      it is finished here with what is stored: partial, resumable.
    - When no worker has taken any of its jobs within ``no_worker_notice_s``,
      ``on_notice`` says how to start one.
    - Cancelled (Ctrl-C): the jobs no worker has started are withdrawn (``on_notice``
      says how many); jobs in progress finish their batch; the run stays resumable.
    """
    run_id, unfinished = queued.run_id, frozenset(queued.job_ids)
    started = time.monotonic()
    first = _read_progress(services, run_id).stored
    noticed = False
    app = queue_app(url)
    with _queue_errors(url):
        async with app.open_async():
            try:
                while True:
                    progress = _read_progress(services, run_id)
                    if on_progress is not None:
                        on_progress(_progress(progress, plan.total, first, started))
                    if progress.status is not RunStatus.RUNNING:
                        break
                    jobs = await _unfinished(app, unfinished)
                    unfinished = jobs.todo | jobs.doing
                    if not unfinished:
                        # The last job may have finished the run since the read above.
                        if _read_progress(services, run_id).status is RunStatus.RUNNING:
                            EvalRunService(services).finish(plan)
                        break
                    waited = time.monotonic() - started
                    if (
                        not noticed
                        and waited >= no_worker_notice_s
                        and progress.stored == first
                        and not jobs.doing
                        and len(jobs.todo) == len(queued.job_ids)
                    ):
                        noticed = True
                        if on_notice is not None:
                            on_notice(_no_worker_notice(run_id, waited))
                    await asyncio.sleep(poll_s)
            except asyncio.CancelledError:
                withdrawn = await withdraw_jobs(app, run_id)
                if on_notice is not None:
                    on_notice(
                        f"Withdrew the {withdrawn} jobs of run {run_id} that no worker had "
                        "started; the workers finish the batches they are on."
                    )
                raise
    with services.db.session() as session:
        return eval_repo.load_report(session, run_id, workspace=plan.workspace)


@contextlib.contextmanager
def _queue_errors(url: str) -> Iterator[None]:
    """The task queue's database not answering, said as such (never with its password)."""
    try:
        yield
    except (ProcrastinateException, psycopg.Error) as exc:
        raise DatabaseUnavailableError(
            f"the task queue's database ({safe_url(normalize_url(url))}): "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no answer'}"
        ) from exc


@dataclass(frozen=True)
class _Jobs:
    todo: frozenset[int]
    doing: frozenset[int]


async def _unfinished(app: App, ids: frozenset[int]) -> _Jobs:
    """Which of the jobs ``ids`` wait for a worker (todo) and which run (doing)."""
    found: dict[str, frozenset[int]] = {}
    for status in ("todo", "doing"):
        listed = await app.job_manager.list_jobs_async(queue=QUEUE, task=TASK_ITEMS, status=status)
        found[status] = frozenset(j.id for j in listed if j.id in ids)
    return _Jobs(found["todo"], found["doing"])


def _read_progress(services: Services, run_id: int) -> eval_repo.StoredProgress:
    with services.db.session() as session:
        return eval_repo.run_progress(session, run_id)


def _progress(stored: eval_repo.StoredProgress, total: int, first: int, started: float) -> Progress:
    elapsed = time.monotonic() - started
    fresh = stored.stored - first
    eta = elapsed / fresh * max(total - stored.stored, 0) if fresh > 0 else None
    limits = {m: LimitWait(n, ms / 1000) for m, (n, ms) in stored.limits.items()}
    return Progress(stored.stored, total, stored.errors, stored.cost_usd, elapsed, eta, limits)


def _no_worker_notice(run_id: int, waited: float) -> str:
    return (
        f"No worker has taken a job of run {run_id} in {waited:.0f} s. Start one with "
        "`quorum worker`, on this machine or another, with the same DATABASE_URL, "
        "QUORUM_TASK_QUEUE and quorum.yaml (and the provider keys); this waits for it."
    )


# -- working -------------------------------------------------------------------------------


async def run_items(services: Services, run_id: int, items: Sequence[WorkItem]) -> None:
    """One job: the batch's items that have no kept result yet, then the run's outcome
    if this job stored its last item."""
    service = EvalRunService(services)
    try:
        with services.db.session() as session:
            workspace = eval_repo.run_workspace(session, run_id)
        plan = service.resume(run_id, workspace=workspace, concurrency=JOB_CONCURRENCY)
    except InputError as exc:  # finished already (a job delivered twice), or gone
        log.info("eval run %d: nothing to do (%s)", run_id, exc)
        return
    done = {r.key for r in plan.completed}
    pending = [item for item in items if item.key not in done]
    if pending:
        await service.execute_items(plan, pending)
    with services.db.session() as session:
        stored = eval_repo.result_count(session, run_id)
    if stored >= plan.total:
        report = service.finish(plan)
        log.info("eval run %d finished: %s", run_id, report.status.value)


async def run_worker(
    services: Services,
    url: str,
    *,
    concurrency: int = 4,
    heartbeat_s: float = 10.0,
    stalled_after_s: float = 30.0,
) -> None:
    """``quorum worker``: take benchmark jobs until SIGINT/SIGTERM (procrastinate drains
    the jobs in progress first).

    litellm is imported and warmed up before the first job is taken when a configured
    member needs it (in a thread: its seconds of CPU must not hold up the heartbeat).
    Its jobs leave the rate people use in the web process to them
    (:mod:`bot.runtime.shared_budget`)."""
    await services.warm_up()
    running: set[int] = set()
    app = queue_app(
        url, services, running, sweep_every_s=heartbeat_s, stalled_after_s=stalled_after_s
    )
    async with app.open_async(), people_first(services):
        await ensure_queue_schema(app, url)
        await app.run_worker_async(
            queues=[QUEUE, UPKEEP_QUEUE],
            name=f"quorum-worker@{socket.gethostname()}",
            concurrency=concurrency,
            update_heartbeat_interval=heartbeat_s,
            stalled_worker_timeout=stalled_after_s,
            install_signal_handlers=True,
        )


async def retry_stalled_jobs(
    app: App, stalled_after_s: float, *, running_here: Collection[int]
) -> list[int]:
    """Put the benchmark jobs of workers whose heartbeat is ``stalled_after_s`` seconds old
    back in the queue; returns their ids. Never this process's own (``running_here``): it
    is alive (it is running this), even if its heartbeat is late after a long pause."""
    retried: list[int] = []
    stalled = await app.job_manager.get_stalled_jobs(
        queue=QUEUE, seconds_since_heartbeat=stalled_after_s
    )
    for job in stalled:
        if job.id is None or job.id in running_here:
            continue
        try:
            await app.job_manager.retry_job(job)
        except ProcrastinateException:  # another sweep retried it first
            continue
        log.warning("job %s of a stalled worker is back in the queue", job.id)
        retried.append(job.id)
    return retried
