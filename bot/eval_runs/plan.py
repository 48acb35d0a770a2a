"""A benchmark run decided before it starts: which cases, models, samples, judge and
settings, and which work items (case × model × sample) are still to do.

A plan is new (:func:`new_plan`) or resumed from a stored run (:func:`resume_plan`).
Either way :meth:`RunPlan.pending_items` lists what is left, so the in-process loop, a
pool of worker processes or a task queue can execute the same items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from bot.eval_runs.members import build_judge, select_members
from bot.eval_runs.options import DEFAULT_DEADLINE, SetChoice
from bot.eval_runs.record import git_commit
from bot.runtime.services import Services
from evals.cases.schema import CaseSet, EvalCase
from evals.cases.sets import dataset_version, short_version
from evals.errors import ConfigError, InputError
from evals.protocols import Embedder
from evals.records import PanelMember
from evals.runs.report import RunRecord, RunStatus, SampleKey, SampleResult
from evals.runs.runner import RunConfig, plan_record
from evals.scorers.checks import ScorerSettings
from evals.scorers.judge import Judge
from evals.scorers.registry import needs_embedder
from storage import case_repo, eval_repo


class NoActiveCases(InputError):
    """There is nothing to benchmark: no active case matches the request."""


@dataclass(frozen=True)
class EvalRunRequest:
    """What a caller asks for: `quorum eval run`'s options, or the scheduled benchmark's
    fixed ones; ``workspace``: whose cases are run (and who owns the run)."""

    workspace: str
    case_set: SetChoice = SetChoice.GOLDEN
    categories: Sequence[str] = ()
    tags: Sequence[str] = ()
    model_names: Sequence[str] = ()
    samples: int = 3
    concurrency: int = 8
    per_model: int | None = None
    max_cost: float | None = None
    use_judge: bool = True
    #: How long from the start the run may wait on rate limits (see DEFAULT_DEADLINE).
    deadline: timedelta = DEFAULT_DEADLINE


@dataclass(frozen=True, order=True)
class WorkItem:
    """One unit of work: ask ``model`` (a member name) ``case_id`` once, as ``sample``."""

    sample: int
    case_id: str
    model: str

    @property
    def key(self) -> SampleKey:
        return (self.case_id, self.model, self.sample)


@dataclass
class RunPlan:
    """Everything a run needs, decided before it starts (new or resumed)."""

    cases: list[EvalCase]
    members: list[PanelMember]
    config: RunConfig
    judge: Judge | None
    embedder: Embedder | None
    record: RunRecord
    completed: list[SampleResult] = field(default_factory=list)
    resumed_from: RunRecord | None = None
    run_id: int | None = None
    #: The workspace whose cases these are; the stored run is its.
    workspace: str = field(kw_only=True)

    @property
    def total(self) -> int:
        return len(self.cases) * len(self.members) * self.config.samples

    def items(self) -> list[WorkItem]:
        """Every work item of the run, in the order the runner asks them (sample 0 of
        every case and model first)."""
        return [
            WorkItem(s, case.id, member.name)
            for s in range(self.config.samples)
            for case in self.cases
            for member in self.members
        ]

    def pending_items(self) -> list[WorkItem]:
        """The work items with no kept result yet."""
        done = {r.key for r in self.completed}
        return [item for item in self.items() if item.key not in done]

    def describe(self) -> str:
        return (
            f"{len(self.cases)} cases × {len(self.members)} models × "
            f"{self.config.samples} samples ({self.config.case_set} set, dataset "
            f"{short_version(self.config.dataset_version)}); "
            + (f"judge {self.judge.model}" if self.judge else "rule scorers only")
        )


def _chosen(case_set: str) -> CaseSet | None:
    return None if case_set == SetChoice.ALL.value else CaseSet(case_set)


def new_plan(services: Services, session: Session, request: EvalRunRequest) -> RunPlan:
    """Plan a new run of the active cases."""
    chosen = _chosen(request.case_set.value)
    cases = case_repo.active_cases(
        session, chosen, request.categories, request.tags, workspace=request.workspace
    )
    if not cases:
        wanted = [*request.categories, *request.tags]
        matching = f" matching {', '.join(wanted)}" if wanted else ""
        raise NoActiveCases(
            f"No active cases in the {request.case_set.value} set{matching}. Approve proposed "
            "cases (`quorum cases list`, then `quorum cases approve ID`) or import some with "
            "`quorum cases import FILE`."
        )
    config = services.config
    members = select_members(config, request.model_names)
    judge = build_judge(config, services.client, members) if request.use_judge else None
    scorers = ScorerSettings(expected_check="none" if judge else "similarity")
    needs_similarity = needs_embedder(cases, scorers, has_judge=judge is not None)
    filters: dict[str, object] = {}
    if request.categories or request.tags:
        filters = {"category": list(request.categories), "tag": list(request.tags)}
    run_config = RunConfig(
        samples=request.samples,
        concurrency=request.concurrency,
        per_model_concurrency=request.per_model,
        max_cost=request.max_cost,
        system_prompt=config.consensus.system_prompt,
        scorers=scorers,
        case_set=request.case_set.value,
        dataset_version=dataset_version(cases, chosen),
        git_commit=git_commit(),
        filters=filters,
        deadline=datetime.now(UTC) + request.deadline,  # the real clock: providers keep it
    )
    embedder = services.embedder if needs_similarity else None
    record = plan_record(
        cases,
        members,
        run_config,
        judge=judge,
        embedder=embedder,
        started_at=services.clock.now(),
    )
    return RunPlan(cases, members, run_config, judge, embedder, record, workspace=request.workspace)


def resume_plan(
    services: Services,
    session: Session,
    run_id: int,
    *,
    workspace: str,
    concurrency: int = 8,
    per_model: int | None = None,
    max_cost: float | None = None,
    deadline: timedelta = DEFAULT_DEADLINE,
) -> RunPlan:
    """Plan the rest of an interrupted or partial run: same cases, models, settings;
    ``deadline`` from now."""
    record, status, snapshot = eval_repo.load_record(session, run_id, workspace=workspace)
    if status in (RunStatus.COMPLETE, RunStatus.INVALID):
        raise InputError(
            f"Run {run_id} is {status.value}; only a running (interrupted) or partial run can "
            f"be resumed. See it with `quorum eval report {run_id}`."
        )
    cases: list[EvalCase] = []
    for info in snapshot:
        case = case_repo.get_case(session, info.id, workspace=workspace)
        if case is None:
            raise InputError(f"Case {info.id} of run {run_id} no longer exists; start a new run.")
        cases.append(case)
    if dataset_version(cases, _chosen(record.case_set)) != record.dataset_version:
        raise InputError(
            f"The cases of run {run_id} changed since it started (dataset version "
            f"{short_version(record.dataset_version)}); start a new run instead."
        )
    config = services.config
    known = {m.name: m for m in config.panel_members() + config.shadow_members()}
    members: list[PanelMember] = []
    for m in record.models:
        member = known.get(m.name)
        if member is None and m.name == m.model:
            member = PanelMember(name=m.name, model=m.model)
        if member is None or member.model != m.model:
            raise ConfigError(
                f"Run {run_id} used {m.name} = {m.model}, which quorum.yaml no longer has; "
                "resuming would mix models. Start a new run."
            )
        members.append(replace(member, temperature=m.temperature, max_tokens=m.max_tokens))
    judge = None
    if record.judge_model:
        judge = build_judge(config, services.client, members)
        if judge is None or judge.prompt_hash != record.judge_prompt_hash:
            raise ConfigError(
                f"The judge or its rubric changed since run {run_id} started; start a new run."
            )
    embedder = services.embedder if record.scorer_settings.get("similarity_embedder") else None
    run_config = RunConfig(
        samples=record.samples,
        concurrency=concurrency,
        per_model_concurrency=per_model,
        max_cost=max_cost if max_cost is not None else record.max_cost_usd,
        temperature=record.temperature,
        top_p=record.top_p,
        max_tokens=record.max_tokens,
        system_prompt=record.system_prompt,
        max_error_rate=record.max_error_rate,
        scorers=ScorerSettings.from_dict(dict(record.scorer_settings)),
        case_set=record.case_set,
        dataset_version=record.dataset_version,
        git_commit=git_commit(),
        filters=dict(record.filters),
        deadline=datetime.now(UTC) + deadline,
    )
    return RunPlan(
        cases,
        members,
        run_config,
        judge,
        embedder,
        record,
        completed=eval_repo.resumable_results(session, run_id),
        resumed_from=record,
        run_id=run_id,
        workspace=workspace,
    )
