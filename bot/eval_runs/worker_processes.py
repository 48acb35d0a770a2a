"""Spread one run's work items over worker processes on this machine.

Asking, parsing and scoring cost CPU on every call (litellm alone spends milliseconds),
so one event loop tops out at one core. With ``--workers N`` the
run's scheduling stays in the parent — the same :func:`evals.runs.runner.run_eval` with its
global and per-model caps, the budget, the order, the progress bar and the storing of
every result — and only the asking and scoring of each work item is handed to one of N
worker processes, each with its own event loop (:meth:`ProcessPool.execute`).

- **Budget:** global by construction: the parent's ledger decides whether an item may
  start, exactly as in one process, and an item is in flight until its result is back.
- **Storage:** only the parent writes; a worker sends each scored sample back the moment
  it has it.
- **Ctrl-C:** workers ignore SIGINT; the parent stops them, and a result a worker had
  already sent for an item nobody waits on any more is still stored (``on_orphan``), so a
  paid answer is never lost and a resume never asks it again.
- **A worker that dies** (killed, out of memory): the items it had not answered go to the
  others. When none is left the run stops with an error; what was stored stays.

Workers are forked from a ``forkserver`` that has imported Quorum once (on POSIX;
``spawn`` elsewhere), and litellm too when a member of the run needs it (one not on an
OpenAI-compatible server, :mod:`evals.models.openai_compatible`), so N workers do not pay N
times for those imports; `quorum eval run` starts it before it plans
(:mod:`bot.eval_runs.forkserver`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import os
import signal
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from bot.eval_runs.forkserver import context as forkserver_context
from bot.eval_runs.forkserver import cpu_count
from bot.eval_runs.members import any_asked_through_litellm, build_judge
from bot.eval_runs.options import ITEMS_PER_WORKER
from bot.runtime.adapters import NoModelCalls, model_client, sentence_embedder
from bot.runtime.config import QuorumConfig
from bot.runtime.db_guard import DbGuard
from bot.runtime.settings import Settings
from bot.runtime.shared_budget import reserving
from evals.cases.schema import EvalCase
from evals.errors import ConfigError, QuorumError
from evals.protocols import SystemClock
from evals.records import PanelMember
from evals.runs.report import SampleResult
from evals.runs.runner import RunConfig, member_for, run_sample
from storage.db import Database

log = logging.getLogger("quorum.workers")

#: Seconds stopping workers get to send what they have before they are killed.
STOP_TIMEOUT_S = 10.0


def default_workers(pending: int) -> int:
    """``--workers``' default: one per core, but no more than one per
    :data:`ITEMS_PER_WORKER` pending items (a small run is faster in one process)."""
    return max(1, min(cpu_count(), pending // ITEMS_PER_WORKER))


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process needs to run any item of one run (pickled to it)."""

    settings: Settings
    config: QuorumConfig
    cases: list[EvalCase]
    members: list[PanelMember]  # as planned; each worker applies the run's overrides
    run_config: RunConfig
    judge_prompt_hash: str | None  # None: no judge
    use_embedder: bool
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    #: The share of every configured rate limit each worker may use (1 / workers).
    limit_share: float = 1.0


class WorkerFailed(RuntimeError):
    """A worker process raised while running an item (a bug: reported as internal)."""


class NoWorkersLeft(QuorumError):
    """Every worker process stopped before the run was done."""

    user_safe = True


# -- the parent ------------------------------------------------------------------------


@dataclass
class _Job:
    seq: int
    case: EvalCase
    member: PanelMember
    sample: int
    future: asyncio.Future[SampleResult]


@dataclass
class _Worker:
    name: str
    process: BaseProcess
    outbox: Connection  # parent -> worker
    jobs: dict[int, _Job] = field(default_factory=dict)
    alive: bool = True
    fatal: str | None = None  # why it could not start, if it said so


class ProcessPool:
    """N worker processes running the items :meth:`execute` hands them. Use as an async
    context manager; it must be entered and used on one event loop."""

    def __init__(
        self,
        spec: WorkerSpec,
        workers: int,
        *,
        on_orphan: Callable[[SampleResult], None],
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        """``on_notice`` is told, in a sentence for the person running the eval, when a
        worker stops and its items go to the others (it is logged as well)."""
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.spec = spec
        self.size = workers
        self.on_orphan = on_orphan
        self.on_notice = on_notice
        self._workers: list[_Worker] = []
        self._seq = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exited = 0
        self._all_exited: asyncio.Event | None = None
        self._closing = False

    @property
    def pids(self) -> list[int]:
        """The live workers' process ids."""
        return [w.process.pid for w in self._workers if w.alive and w.process.pid]

    async def __aenter__(self) -> ProcessPool:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._all_exited = asyncio.Event()
        ctx = forkserver_context(with_litellm=run_asks_through_litellm(self.spec))
        for index in range(self.size):
            inbox_r, inbox_w = ctx.Pipe(duplex=False)
            results_r, results_w = ctx.Pipe(duplex=False)
            process = ctx.Process(
                target=worker_main,
                args=(inbox_r, results_w, self.spec),
                name=f"quorum-eval-worker-{index + 1}",
                daemon=True,
            )
            with _sigint_ignored():
                process.start()
            inbox_r.close()
            results_w.close()
            worker = _Worker(process.name, process, inbox_w)
            self._workers.append(worker)
            threading.Thread(
                target=self._read,
                args=(worker, results_r),
                name=f"{process.name}-reader",
                daemon=True,
            ).start()

    async def execute(self, case: EvalCase, member: PanelMember, sample: int) -> SampleResult:
        """Run one item in a worker; the :data:`evals.runs.runner.SampleExecutor` of the run."""
        assert self._loop is not None, "ProcessPool used before start()"
        job = _Job(next(self._seq), case, member, sample, self._loop.create_future())
        self._dispatch(job)
        return await job.future

    async def close(self) -> None:
        """Stop every worker; results they had already sent are delivered (to a waiting
        :meth:`execute`, else to ``on_orphan``) before this returns."""
        self._closing = True
        for worker in self._workers:
            if worker.alive:
                with contextlib.suppress(OSError):
                    worker.outbox.send(("stop",))
        assert self._all_exited is not None
        if self._exited < len(self._workers):
            try:
                await asyncio.wait_for(self._all_exited.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                for worker in self._workers:
                    if worker.process.is_alive():
                        log.warning("%s did not stop; killing it", worker.name)
                        worker.process.kill()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._all_exited.wait(), STOP_TIMEOUT_S)
        for worker in self._workers:
            worker.process.join(1)
            worker.outbox.close()

    # -- inside the event loop ---------------------------------------------------------

    def _dispatch(self, job: _Job) -> None:
        alive = [w for w in self._workers if w.alive]
        if not alive:
            job.future.set_exception(self._no_workers_left())
            return
        worker = min(alive, key=lambda w: len(w.jobs))
        worker.jobs[job.seq] = job
        try:
            worker.outbox.send(("item", job.seq, job.case.id, job.member.name, job.sample))
        except OSError:  # it died; its reader will say so too
            self._lost(worker)

    def _on_message(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "result":
            result: SampleResult = message[2]
            job = worker.jobs.pop(message[1], None)
            if job is not None and not job.future.done():
                job.future.set_result(result)
            else:  # nobody waits any more (Ctrl-C): keep the paid answer anyway
                self.on_orphan(result)
        elif kind == "error":
            job = worker.jobs.pop(message[1], None)
            log.error("%s failed on an item:\n%s", worker.name, message[2])
            if job is not None and not job.future.done():
                job.future.set_exception(
                    WorkerFailed(
                        f"{worker.name} failed on {job.case.id} · {job.member.name} "
                        f"(sample {job.sample}); its traceback is in the log"
                    )
                )
        elif kind == "fatal":
            worker.fatal = str(message[1])

    def _on_exit(self, worker: _Worker) -> None:
        self._exited += 1
        if worker.alive and not self._closing:
            worker.process.join(1)
            notice = _stopped_notice(worker, alive=sum(w.alive for w in self._workers) - 1)
            log.warning("%s", notice)
            if self.on_notice is not None:
                self.on_notice(notice)
        self._lost(worker)
        if self._exited >= len(self._workers) and self._all_exited is not None:
            self._all_exited.set()

    def _lost(self, worker: _Worker) -> None:
        worker.alive = False
        jobs, worker.jobs = worker.jobs, {}
        for job in jobs.values():
            if not job.future.done() and not self._closing:
                self._dispatch(job)

    def _no_workers_left(self) -> QuorumError:
        why = next((w.fatal for w in self._workers if w.fatal), None)
        codes = sorted({str(w.process.exitcode) for w in self._workers})
        return NoWorkersLeft(
            f"every eval worker process stopped (exit codes {', '.join(codes)})"
            + (f": {why}" if why else "")
            + "; the samples already finished are stored, resume the run to finish it"
        )

    # -- the reader threads ------------------------------------------------------------

    def _read(self, worker: _Worker, results: Connection) -> None:
        loop = self._loop
        assert loop is not None
        try:
            while True:
                try:
                    message = results.recv()
                except (EOFError, OSError):
                    break
                loop.call_soon_threadsafe(self._on_message, worker, message)
        finally:
            results.close()
            with contextlib.suppress(RuntimeError):  # the loop is gone: nothing waits
                loop.call_soon_threadsafe(self._on_exit, worker)


def _stopped_notice(worker: _Worker, *, alive: int) -> str:
    """What the person running the eval is told when ``worker`` stops mid-run."""
    code = worker.process.exitcode
    if code is not None and code < 0:
        how = f"was killed ({_signal_name(-code)})"
    else:
        how = f"stopped (exit code {code})"
    why = f": {worker.fatal}" if worker.fatal else ""
    items = len(worker.jobs)
    if alive <= 0:
        then = "no worker is left"
    elif items:
        then = (
            f"its {items} unfinished item{'s go' if items != 1 else ' goes'} to the other workers"
        )
    else:
        then = "it had no unfinished items; the other workers go on"
    return f"{worker.name} {how}{why}; {then}."


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def run_asks_through_litellm(spec: WorkerSpec) -> bool:
    """Whether a member of the run (the judge included) is asked through litellm."""
    members = list(spec.members)
    if spec.judge_prompt_hash is not None:
        judge = build_judge(spec.config, NoModelCalls(), spec.members)
        members += [judge.member] if judge is not None else []
    return any_asked_through_litellm(members)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Children started meanwhile inherit an ignored SIGINT (so Ctrl-C in a terminal,
    which reaches the whole process group, is the parent's alone to handle)."""
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: the worker ignores it itself
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# -- the worker ------------------------------------------------------------------------


def worker_main(inbox: Connection, results: Connection, spec: WorkerSpec) -> None:
    """A worker process: run the items the parent sends until it says stop (or goes)."""
    become_worker(spec.environ)
    try:
        asyncio.run(_serve(inbox, results, spec))
    except Exception as exc:
        with contextlib.suppress(OSError):
            results.send(("fatal", getattr(exc, "user_message", None) or repr(exc)))
        raise
    finally:
        results.close()


def become_worker(environ: Mapping[str, str]) -> None:
    """First thing in a worker process: Ctrl-C is the parent's to handle, the environment
    is the parent's, and the collector runs again, never walking what the forkserver
    imported (it lives as long as the process; the forkserver imported it with the
    collector paused, :mod:`bot.eval_runs.preload_gc`). Freezing it also keeps the
    collector from touching, and so copying, the pages this worker shares with others."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.freeze()
    gc.enable()
    os.environ.clear()
    os.environ.update(environ)


async def _serve(inbox: Connection, results: Connection, spec: WorkerSpec) -> None:
    loop = asyncio.get_running_loop()
    messages: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()

    def read() -> None:
        try:
            while True:
                message = inbox.recv()
                loop.call_soon_threadsafe(messages.put_nowait, message)
                if message[0] == "stop":
                    return
        except (EOFError, OSError):  # the parent is gone
            loop.call_soon_threadsafe(messages.put_nowait, ("stop",))

    threading.Thread(target=read, name="quorum-worker-inbox", daemon=True).start()
    client = model_client(spec.config, share=spec.limit_share)
    judge = None
    if spec.judge_prompt_hash is not None:
        judge = build_judge(spec.config, client, spec.members)
        if judge is None or judge.prompt_hash != spec.judge_prompt_hash:
            raise ConfigError("the judge or its rubric changed since the run was planned")
    embedder = (
        sentence_embedder(spec.settings.quorum_embedding_model) if spec.use_embedder else None
    )
    members = {m.name: member_for(m, spec.run_config) for m in spec.members}
    cases = {c.id: c for c in spec.cases}
    tasks: set[asyncio.Task[None]] = set()

    async def one(seq: int, case_id: str, model: str, sample: int) -> None:
        try:
            result = await run_sample(
                cases[case_id], members[model], sample, client, spec.run_config, judge, embedder
            )
        except Exception:
            results.send(("error", seq, traceback.format_exc()))
            return
        # Sent at once, with no await in between: a stop cannot lose a paid answer.
        results.send(("result", seq, result))

    # Each worker leaves people's share of every member's rate to them, like the parent
    # would (bot.runtime.shared_budget): its own reads of the shared demand.
    settings = spec.settings
    db = Database(
        settings.database_url,
        connect_timeout_s=settings.quorum_db_connect_timeout,
        statement_timeout_s=settings.quorum_db_statement_timeout,
    )
    guard = DbGuard(db, settings.quorum_db_write_timeout, workers=2)
    try:
        async with reserving(guard, client.limiter, SystemClock()):
            while True:
                message = await messages.get()
                if message[0] == "stop":
                    break
                _, seq, case_id, model, sample = message
                task = asyncio.create_task(one(seq, case_id, model, sample))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        guard.close()
        db.dispose()
