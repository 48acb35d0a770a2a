"""Run eval cases × models × k samples; return an :class:`~evals.runs.report.EvalReport`.

Pure and async: the caller stores the report (and, through ``on_result``, each sample
as it finishes so an interrupted run can be resumed). ``on_result`` is awaited as soon as
a sample is scored; a callback that stores without awaiting anything cannot lose a paid
answer to a cancellation (Ctrl-C).

* Concurrency: one global cap plus a cap per model. Rate limits live in the model client
  (:mod:`evals.models.rate_limits`): every call here is background work, after any
  person's, and a rate-limited sample waits and is asked again until ``deadline``; a
  sample not started by then does not run (status ``partial``, resumable), one still
  refused then is a ``deadline`` error.
* Budget: with ``max_cost`` set, no new call starts once the money spent plus the
  expected cost of the calls in flight reaches the budget; calls in flight finish and are
  kept. The report's status is then ``partial`` and says why.
* Resume: results passed as ``completed`` are kept as they are and their sample keys are
  never asked again.
* Errors: a failed model or judge call is recorded on the sample, not counted as a
  failure; see :mod:`evals.runs.report` for the policy that makes a run invalid.
* Order: sample 0 of every case and model first, then sample 1, ...; a partial run
  therefore covers as many cases as possible.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from importlib import metadata

from evals.cases.schema import EvalCase
from evals.models.rate_limits import background
from evals.protocols import Clock, Embedder, ModelClient, SystemClock
from evals.records import ERROR_KIND_TEXT, ChatMessage, ModelAnswer, PanelMember
from evals.runs.report import (
    CaseInfo,
    EvalReport,
    ModelRecord,
    RunRecord,
    RunStatus,
    SampleKey,
    SampleResult,
    error_rate,
)
from evals.scorers.checks import ScorerSettings
from evals.scorers.judge import Judge
from evals.scorers.registry import score_answer

#: How the model is asked: the system prompt, the case's context, then the question.
PROMPT_TEMPLATE = "[system: {system_prompt}] [case context messages…] [user: {question}]"


@dataclass(frozen=True)
class RunConfig:
    samples: int = 3
    concurrency: int = 8
    per_model_concurrency: int | None = None  # default: the global cap
    max_cost: float | None = None  # USD, model and judge calls together
    temperature: float | None = None  # None: each member's configured temperature
    top_p: float | None = None
    max_tokens: int | None = None  # None: each member's configured max_tokens
    system_prompt: str | None = None
    max_error_rate: float = 0.2
    scorers: ScorerSettings = field(default_factory=ScorerSettings)
    case_set: str = "golden"
    dataset_version: str = ""
    git_commit: str | None = None
    filters: dict[str, object] = field(default_factory=dict)
    #: UTC; None: no deadline (a rate-limited sample is asked again for as long as it takes)
    deadline: datetime | None = None

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError("samples must be at least 1")
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.max_cost is not None and self.max_cost <= 0:
            raise ValueError("max_cost must be positive")


@dataclass(frozen=True)
class LimitWait:
    """What rate limits cost one model so far: refused requests, seconds waited."""

    throttled: int = 0
    waited_s: float = 0.0


@dataclass(frozen=True)
class Progress:
    done: int  # samples finished, including ones resumed from before
    total: int
    errors: int
    cost_usd: float
    elapsed_s: float
    eta_s: float | None
    #: By model, for the samples finished in this run (empty: nothing was throttled).
    limits: Mapping[str, LimitWait] = field(default_factory=dict)


def limit_waits(results: Iterable[SampleResult]) -> dict[str, LimitWait]:
    """What rate limits cost each model over ``results`` (models never throttled left out)."""
    counts: dict[str, tuple[int, int]] = {}
    for r in results:
        if r.throttled or r.throttle_wait_ms:
            n, ms = counts.get(r.model, (0, 0))
            counts[r.model] = (n + r.throttled, ms + r.throttle_wait_ms)
    return {m: LimitWait(n, ms / 1000) for m, (n, ms) in sorted(counts.items())}


ProgressCallback = Callable[[Progress], None]
ResultCallback = Callable[[SampleResult], Awaitable[None]]
#: Asks and scores one work item; by default :func:`run_sample` in this process. Another
#: executor (worker processes) must return what :func:`run_sample` would.
SampleExecutor = Callable[[EvalCase, PanelMember, int], Awaitable[SampleResult]]


def quorum_version() -> str:
    try:
        return metadata.version("quorum")
    except metadata.PackageNotFoundError:
        return "unknown"


def prompt_hash(system_prompt: str | None) -> str:
    material = json.dumps({"system": system_prompt, "template": PROMPT_TEMPLATE})
    return hashlib.sha256(material.encode()).hexdigest()


def build_messages(case: EvalCase, system_prompt: str | None) -> list[ChatMessage]:
    messages = [ChatMessage("system", system_prompt)] if system_prompt else []
    messages += [ChatMessage(m.role, m.content) for m in case.input.context]
    messages.append(ChatMessage("user", case.input.question))
    return messages


def case_info(case: EvalCase) -> CaseInfo:
    return CaseInfo(
        id=case.id,
        question=case.input.question,
        expected=case.expected,
        category=case.category,
        severity=case.severity.value,
        tags=tuple(case.tags),
    )


class _Budget:
    def __init__(self, limit: float | None, spent: float) -> None:
        self.limit = limit
        self.spent = spent
        self.in_flight = 0
        self.calls = 0
        self.exhausted = False

    def expected_call_cost(self) -> float:
        return self.spent / self.calls if self.calls else 0.0

    def try_start(self) -> bool:
        if self.limit is None:
            self.in_flight += 1
            return True
        reserved = self.spent + self.in_flight * self.expected_call_cost()
        if self.exhausted or reserved >= self.limit:
            self.exhausted = True
            return False
        self.in_flight += 1
        return True

    def finish(self, cost: float) -> None:
        self.in_flight -= 1
        self.calls += 1
        self.spent += cost


def member_for(member: PanelMember, config: RunConfig) -> PanelMember:
    """``member`` as a run with ``config`` asks it (the run's overrides applied)."""
    params = dict(member.params)
    if config.top_p is not None:
        params["top_p"] = config.top_p
    return replace(
        member,
        params=params,
        temperature=member.temperature if config.temperature is None else config.temperature,
        max_tokens=member.max_tokens if config.max_tokens is None else config.max_tokens,
    )


async def run_eval(
    cases: Sequence[EvalCase],
    members: Sequence[PanelMember],
    client: ModelClient,
    config: RunConfig,
    *,
    judge: Judge | None = None,
    embedder: Embedder | None = None,
    completed: Iterable[SampleResult] = (),
    on_result: ResultCallback | None = None,
    on_progress: ProgressCallback | None = None,
    clock: Clock | None = None,
    resumed_from: RunRecord | None = None,
    only: Collection[SampleKey] | None = None,
    execute: SampleExecutor | None = None,
) -> EvalReport:
    """Run every (case, model, sample) not already in ``completed`` (and, with ``only``,
    in ``only``: a batch of work items). When resuming, pass the interrupted run's record
    as ``resumed_from`` to keep its start time and wall time. ``execute`` runs one item
    elsewhere (another process); scheduling, budget and progress stay here."""
    clock = clock or SystemClock()
    if not cases:
        raise ValueError("no cases to run")
    if not members:
        raise ValueError("no models to run")
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise ValueError("model names must be unique: " + ", ".join(names))
    members = [member_for(m, config) for m in members]
    started_at = resumed_from.started_at if resumed_from else clock.now()
    t0 = time.monotonic()

    case_ids = {c.id for c in cases}
    done: dict[SampleKey, SampleResult] = {
        r.key: r for r in completed if r.case_id in case_ids and r.model in names
    }
    keys = [
        (case, member, s)
        for s in range(config.samples)
        for case in cases
        for member in members
        if (case.id, member.name, s) not in done
        and (only is None or (case.id, member.name, s) in only)
    ]
    total = len(done) + len(keys)
    budget = _Budget(config.max_cost, sum(r.total_cost for r in done.values()))
    errors = sum(1 for r in done.values() if r.error)
    resumed = len(done)
    global_cap = asyncio.Semaphore(config.concurrency)
    per_model = {
        m.name: asyncio.Semaphore(config.per_model_concurrency or config.concurrency)
        for m in members
    }
    skipped = late = 0
    waits: dict[str, tuple[int, int]] = {}

    async def run_here(case: EvalCase, member: PanelMember, sample: int) -> SampleResult:
        return await run_sample(case, member, sample, client, config, judge, embedder)

    execute_one = execute or run_here

    def report_progress() -> None:
        if on_progress is None:
            return
        finished = len(done)
        fresh = finished - resumed
        elapsed = time.monotonic() - t0
        remaining = total - finished - skipped
        eta = elapsed / fresh * remaining if fresh else None
        limits = {m: LimitWait(n, ms / 1000) for m, (n, ms) in sorted(waits.items())}
        on_progress(Progress(finished, total, errors, budget.spent, elapsed, eta, limits))

    def past_deadline() -> bool:
        return config.deadline is not None and clock.now() >= config.deadline

    async def one(case: EvalCase, member: PanelMember, sample: int) -> None:
        nonlocal errors, skipped, late
        async with per_model[member.name], global_cap:
            if past_deadline():
                skipped += 1
                late += 1
                return
            if not budget.try_start():
                skipped += 1
                return
            cost = 0.0
            try:
                result = await execute_one(case, member, sample)
                cost = result.total_cost
            finally:
                budget.finish(cost)
        done[result.key] = result
        if result.error:
            errors += 1
        if result.throttled or result.throttle_wait_ms:
            n, ms = waits.get(result.model, (0, 0))
            waits[result.model] = (n + result.throttled, ms + result.throttle_wait_ms)
        if on_result is not None:
            await on_result(result)
        report_progress()

    report_progress()
    async with asyncio.TaskGroup() as tg:
        for case, member, sample in keys:
            tg.create_task(one(case, member, sample))

    return assemble_report(
        cases,
        members,
        config,
        done.values(),
        judge=judge,
        embedder=embedder,
        started_at=started_at,
        finished_at=clock.now(),
        latency_ms=int((time.monotonic() - t0) * 1000)
        + (resumed_from.total_latency_ms if resumed_from else 0),
        total=total,
        skipped=skipped,
        late=late,
    )


def assemble_report(
    cases: Sequence[EvalCase],
    members: Sequence[PanelMember],
    config: RunConfig,
    samples: Iterable[SampleResult],
    *,
    judge: Judge | None,
    embedder: Embedder | None,
    started_at: datetime,
    finished_at: datetime,
    latency_ms: int,
    total: int,
    skipped: int,
    late: int = 0,
) -> EvalReport:
    """The report of a run from its sample results (the ones just run, or every one
    stored for it): status, the completed reproducibility record, the results in order.
    ``skipped``: samples of the ``total`` that did not run, ``late`` of them because the
    run's deadline had passed."""
    results = tuple(sorted(samples, key=lambda r: (r.sample, r.case_id, r.model)))
    status, reason = _status(results, total, skipped, late, config)
    resolved: dict[str, str] = {}
    for r in results:
        if r.resolved_model and r.model not in resolved:
            resolved[r.model] = r.resolved_model
    planned = plan_record(
        cases, members, config, judge=judge, embedder=embedder, started_at=started_at
    )
    record = replace(
        planned,
        models=tuple(replace(m, resolved=resolved.get(m.name)) for m in planned.models),
        finished_at=finished_at,
        total_cost_usd=round(sum(r.total_cost for r in results), 6),
        total_latency_ms=latency_ms,
    )
    return EvalReport(
        record=record,
        status=status,
        status_reason=reason,
        cases=tuple(case_info(c) for c in cases),
        results=results,
    )


def plan_record(
    cases: Sequence[EvalCase],
    members: Sequence[PanelMember],
    config: RunConfig,
    *,
    judge: Judge | None = None,
    embedder: Embedder | None = None,
    started_at: datetime,
) -> RunRecord:
    """The reproducibility record of a run before it runs (no resolved versions, cost or
    end time yet): what the caller stores when the run starts."""
    members = [member_for(m, config) for m in members]
    return RunRecord(
        case_set=config.case_set,
        dataset_version=config.dataset_version,
        case_count=len(cases),
        models=tuple(
            ModelRecord(
                name=m.name,
                model=m.model,
                temperature=m.temperature,
                top_p=config.top_p,
                max_tokens=m.max_tokens,
            )
            for m in members
        ),
        system_prompt=config.system_prompt,
        prompt_template=PROMPT_TEMPLATE,
        prompt_hash=prompt_hash(config.system_prompt),
        temperature=config.temperature,
        top_p=config.top_p,
        max_tokens=config.max_tokens,
        samples=config.samples,
        judge_model=judge.model if judge else None,
        judge_prompt_hash=judge.prompt_hash if judge else None,
        rubric_version=judge.rubric_version if judge else None,
        scorer_settings=config.scorers.to_dict()
        | {"similarity_embedder": embedder.name if embedder else None},
        quorum_version=quorum_version(),
        git_commit=config.git_commit,
        started_at=started_at,
        max_cost_usd=config.max_cost,
        concurrency=config.concurrency,
        max_error_rate=config.max_error_rate,
        filters=dict(config.filters),
    )


def _status(
    results: Sequence[SampleResult], total: int, skipped: int, late: int, config: RunConfig
) -> tuple[RunStatus, str]:
    rate = error_rate(results)
    if results and rate > config.max_error_rate:
        return (
            RunStatus.INVALID,
            f"{rate:.0%} of samples errored (more than the {config.max_error_rate:.0%} "
            "allowed); pass rates are not trustworthy",
        )
    if late:
        when = config.deadline.isoformat(timespec="seconds") if config.deadline else "?"
        return (
            RunStatus.PARTIAL,
            f"the run's deadline ({when}) passed after {len(results)} of {total} samples; "
            f"{skipped} samples did not run (resume to finish)",
        )
    if skipped and config.max_cost is None:
        return (
            RunStatus.PARTIAL,
            f"{skipped} of {total} samples did not run (resume to finish)",
        )
    if skipped:
        return (
            RunStatus.PARTIAL,
            f"stopped at the ${config.max_cost:.2f} budget after {len(results)} of "
            f"{total} samples; {skipped} samples did not run (resume to finish)",
        )
    return (RunStatus.COMPLETE, f"all {total} samples ran")


def _error_text(answer: ModelAnswer) -> str:
    kind = answer.error
    words = ERROR_KIND_TEXT.get(kind, "failed") if kind else "failed"
    return f"{answer.member} {words}"


async def run_sample(
    case: EvalCase,
    member: PanelMember,
    sample: int,
    client: ModelClient,
    config: RunConfig,
    judge: Judge | None,
    embedder: Embedder | None,
) -> SampleResult:
    """Ask ``member`` (as :func:`member_for` made it) ``case`` once and score the answer.

    The calls (the model's and the judge's) are background work, patient with rate limits
    until the run's deadline; what the limits cost is kept on the result."""
    with background(config.deadline) as log:
        answer = await client.complete(member, build_messages(case, config.system_prompt))
        scored = (
            await score_answer(case, answer.text, config.scorers, embedder=embedder, judge=judge)
            if answer.ok
            else None
        )
    base = SampleResult(
        case_id=case.id,
        model=member.name,
        sample=sample,
        text=answer.text,
        resolved_model=answer.resolved_model,
        cost_usd=answer.cost_usd,
        latency_ms=answer.latency_ms,
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        throttled=log.throttled,
        throttle_wait_ms=round(log.waited_s * 1000),
    )
    if scored is None:
        kind = answer.error.value if answer.error else None
        return replace(base, error=_error_text(answer), error_source="model", error_kind=kind)
    if scored.error is not None:
        return replace(base, checks=scored.checks, error=scored.error, error_source="judge")
    return replace(
        base,
        checks=scored.checks,
        verdict=scored.verdict,
        passed=scored.passed,
        judge_cost_usd=scored.judge_cost_usd,
    )
