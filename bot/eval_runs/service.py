"""The eval-run service: plan a run, store it, execute its work items, finish it.

`quorum eval run`, the scheduled benchmark and any worker call this one service over
:class:`~bot.runtime.services.Services`; what differs between them is only who decides the
request and who watches the progress.

The steps are separate so work can be spread out:

- :meth:`EvalRunService.plan` / :meth:`EvalRunService.resume` decide a
  :class:`~bot.eval_runs.plan.RunPlan`; :meth:`EvalRunService.start` stores the run
  (once; starting a started plan does nothing).
- :meth:`EvalRunService.execute_items` runs any batch of the plan's work items and
  records each sample as it is scored (in batches, from a writer thread: see
  :mod:`bot.eval_runs.writer`). Recording is idempotent per item: a sample stored again
  under the same (case, model, sample) replaces the earlier row.
- :meth:`EvalRunService.finish` builds the report from every stored sample and
  records the run's status.

:meth:`EvalRunService.run` does all of it in this process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

from bot.eval_runs.options import DEFAULT_DEADLINE
from bot.eval_runs.plan import (
    EvalRunRequest,
    RunPlan,
    WorkItem,
    new_plan,
    resume_plan,
)
from bot.eval_runs.worker_processes import ProcessPool, WorkerSpec
from bot.eval_runs.writer import ResultWriter
from bot.runtime.services import Services
from bot.runtime.shared_budget import people_first
from evals.runs.report import EvalReport, SampleKey, SampleResult
from evals.runs.runner import ProgressCallback, SampleExecutor, assemble_report, case_info, run_eval
from storage import eval_repo


class EvalRunService:
    def __init__(self, services: Services) -> None:
        self.services = services

    # -- planning ---------------------------------------------------------------------

    def plan(self, request: EvalRunRequest) -> RunPlan:
        """A new run of the active cases; raises InputError when there are none."""
        with self.services.db.session() as session:
            return new_plan(self.services, session, request)

    def resume(
        self,
        run_id: int,
        *,
        workspace: str,
        concurrency: int = 8,
        per_model: int | None = None,
        max_cost: float | None = None,
        deadline: timedelta = DEFAULT_DEADLINE,
    ) -> RunPlan:
        """The rest of an interrupted or partial run (``deadline`` from now)."""
        with self.services.db.session() as session:
            return resume_plan(
                self.services,
                session,
                run_id,
                workspace=workspace,
                concurrency=concurrency,
                per_model=per_model,
                max_cost=max_cost,
                deadline=deadline,
            )

    def start(self, plan: RunPlan) -> int:
        """Store the planned run in status ``running`` (once); returns its id."""
        if plan.run_id is None:
            with self.services.db.session() as session:
                plan.run_id = eval_repo.start_run(
                    session,
                    plan.record,
                    [case_info(c) for c in plan.cases],
                    workspace=plan.workspace,
                    sample_total=plan.total,
                )
        return plan.run_id

    # -- execution --------------------------------------------------------------------

    async def execute_items(
        self,
        plan: RunPlan,
        items: Sequence[WorkItem] | None = None,
        *,
        on_progress: ProgressCallback | None = None,
        workers: int = 1,
        on_notice: Callable[[str], None] | None = None,
    ) -> EvalReport:
        """Ask, score and record ``items`` (default: every pending item) with the plan's
        concurrency and budget. Each sample goes to the writer thread the moment it is
        scored, with no await in between, and the writer has stored every one of them
        before this returns or raises, so cancelling (Ctrl-C) cannot lose a paid answer.
        Returns the report of what this call saw (kept results plus these items).

        ``workers`` > 1: the items are asked and scored by that many worker processes
        (:mod:`bot.eval_runs.worker_processes`); scheduling, budget, progress and storing stay
        here, so the outcome is the same. ``on_notice`` hears when a worker stops mid-run.

        Whichever process asks, it leaves the rate people use in other processes to them
        (:mod:`bot.runtime.shared_budget`)."""
        run_id = self.start(plan)
        keys = None if items is None else {item.key for item in items}
        pending = len(plan.pending_items()) if keys is None else len(keys)
        workers = max(1, min(workers, pending))
        writer = ResultWriter(self.services.db, run_id, self.services.clock)
        try:
            if workers == 1:
                async with people_first(self.services):
                    report = await self._execute(plan, keys, on_progress, writer, None)
            else:
                spec = WorkerSpec(
                    settings=self.services.settings,
                    config=self.services.config,
                    cases=plan.cases,
                    members=plan.members,
                    run_config=plan.config,
                    judge_prompt_hash=plan.judge.prompt_hash if plan.judge else None,
                    use_embedder=plan.embedder is not None,
                    limit_share=1 / workers,
                )
                async with ProcessPool(
                    spec, workers, on_orphan=writer.put, on_notice=on_notice
                ) as pool:
                    report = await self._execute(plan, keys, on_progress, writer, pool.execute)
        except BaseException:
            writer.close(raise_errors=False)  # what was received is stored all the same
            raise
        writer.close()
        return report

    async def _execute(
        self,
        plan: RunPlan,
        keys: set[SampleKey] | None,
        on_progress: ProgressCallback | None,
        writer: ResultWriter,
        execute: SampleExecutor | None,
    ) -> EvalReport:
        async def save(result: SampleResult) -> None:
            writer.put(result)

        return await run_eval(
            plan.cases,
            plan.members,
            self.services.client,
            plan.config,
            judge=plan.judge,
            embedder=plan.embedder,
            completed=plan.completed,
            on_result=save,
            on_progress=on_progress,
            clock=self.services.clock,
            resumed_from=plan.resumed_from,
            only=keys,
            execute=execute,
        )

    def finish(self, plan: RunPlan, report: EvalReport | None = None) -> EvalReport:
        """Record the run's outcome. Without ``report`` (items ran elsewhere) it is built
        from every sample stored for the run; items with no sample count as not run."""
        run_id = self.start(plan)
        if report is None:
            with self.services.db.session() as session:
                stored = eval_repo.results(session, run_id)
            keys = {item.key for item in plan.items()}
            stored = [r for r in stored if r.key in keys]
            started = plan.resumed_from or plan.record
            now = self.services.clock.now()
            report = assemble_report(
                plan.cases,
                plan.members,
                plan.config,
                stored,
                judge=plan.judge,
                embedder=plan.embedder,
                started_at=started.started_at,
                finished_at=now,
                latency_ms=int((now - started.started_at).total_seconds() * 1000),
                total=plan.total,
                skipped=plan.total - len(stored),
            )
        report = report.with_run_id(run_id)
        with self.services.db.session() as session:
            eval_repo.finish_run(session, run_id, report)
        return report

    async def run(
        self,
        plan: RunPlan,
        *,
        on_progress: ProgressCallback | None = None,
        workers: int = 1,
        on_notice: Callable[[str], None] | None = None,
    ) -> EvalReport:
        """Start, execute every pending item on this machine (in ``workers`` processes),
        finish. Returns the stored report."""
        self.start(plan)
        report = await self.execute_items(
            plan, on_progress=on_progress, workers=workers, on_notice=on_notice
        )
        return self.finish(plan, report)
