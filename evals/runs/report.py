"""The eval report: what ran (the reproducibility record), every sample's result, and the
summaries computed from them. Rendering lives in :mod:`evals.runs.report_render`.

Error policy (documented in docs/eval-runs.md): a sample whose model call or judge
call failed is an *error*, not a failure: it is kept with its error and left out of pass
rates. A model whose error rate exceeds ``RunRecord.max_error_rate`` (default 20%) is
marked invalid in the summary; when the error rate of the whole run exceeds it, the run's
status is ``invalid`` and its pass rates must not be trusted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from evals import stats
from evals.scorers.checks import CheckResult
from evals.scorers.judge import JudgeVerdict


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETE = "complete"
    PARTIAL = "partial"  # stopped early (budget, interruption): not every sample ran
    INVALID = "invalid"  # too many errors for the numbers to mean anything


@dataclass(frozen=True)
class CaseInfo:
    """The parts of a case a report shows (a snapshot, so old reports stay readable)."""

    id: str
    question: str
    expected: str | None = None
    category: str | None = None
    severity: str = "medium"
    tags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tags"] = list(self.tags)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseInfo:
        return cls(
            id=str(data["id"]),
            question=str(data["question"]),
            expected=data.get("expected"),
            category=data.get("category"),
            severity=str(data.get("severity", "medium")),
            tags=tuple(data.get("tags", ())),
        )


SampleKey = tuple[str, str, int]  # (case id, model name, sample index)


@dataclass(frozen=True)
class SampleResult:
    """One model's answer to one case, one sample, and how it scored."""

    case_id: str
    model: str
    sample: int
    text: str = ""
    passed: bool | None = None  # None: errored or unscored
    checks: tuple[CheckResult, ...] = ()
    verdict: JudgeVerdict | None = None
    error: str | None = None  # plain words; set for a model or judge failure
    error_source: str | None = None  # "model" | "judge"
    resolved_model: str | None = None
    cost_usd: float | None = None  # the model call
    judge_cost_usd: float | None = None
    latency_ms: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    #: For a model error: its :class:`~evals.records.ErrorKind` value (``deadline``,
    #: ``auth``, ``bad_request``, ...), so a report can say which kind of failure it was.
    error_kind: str | None = None
    #: Requests the provider refused (rate limits) while this sample was asked and
    #: judged, and the time it waited on limits: the refusals cost time, not the sample.
    throttled: int = 0
    throttle_wait_ms: int = 0

    @property
    def key(self) -> SampleKey:
        return (self.case_id, self.model, self.sample)

    @property
    def total_cost(self) -> float:
        return (self.cost_usd or 0.0) + (self.judge_cost_usd or 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "model": self.model,
            "sample": self.sample,
            "text": self.text,
            "passed": self.passed,
            "checks": [c.to_dict() for c in self.checks],
            "verdict": self.verdict.to_dict() if self.verdict else None,
            "error": self.error,
            "error_source": self.error_source,
            "resolved_model": self.resolved_model,
            "cost_usd": self.cost_usd,
            "judge_cost_usd": self.judge_cost_usd,
            "latency_ms": self.latency_ms,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "error_kind": self.error_kind,
            "throttled": self.throttled,
            "throttle_wait_ms": self.throttle_wait_ms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SampleResult:
        verdict = data.get("verdict")
        return cls(
            case_id=str(data["case_id"]),
            model=str(data["model"]),
            sample=int(data["sample"]),
            text=str(data.get("text") or ""),
            passed=data.get("passed"),
            checks=tuple(CheckResult.from_dict(c) for c in data.get("checks") or ()),
            verdict=JudgeVerdict.from_dict(verdict) if verdict else None,
            error=data.get("error"),
            error_source=data.get("error_source"),
            resolved_model=data.get("resolved_model"),
            cost_usd=data.get("cost_usd"),
            judge_cost_usd=data.get("judge_cost_usd"),
            latency_ms=int(data.get("latency_ms") or 0),
            prompt_tokens=data.get("prompt_tokens"),
            completion_tokens=data.get("completion_tokens"),
            error_kind=data.get("error_kind"),
            throttled=int(data.get("throttled") or 0),
            throttle_wait_ms=int(data.get("throttle_wait_ms") or 0),
        )


@dataclass(frozen=True)
class ModelRecord:
    """A model as requested, and the version the provider said it ran."""

    name: str
    model: str
    resolved: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None


@dataclass(frozen=True)
class RunRecord:
    """Everything needed to know, months later, exactly what ran."""

    case_set: str
    dataset_version: str
    case_count: int
    models: tuple[ModelRecord, ...]
    system_prompt: str | None
    prompt_template: str
    prompt_hash: str
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    samples: int
    judge_model: str | None
    judge_prompt_hash: str | None
    rubric_version: str | None
    scorer_settings: Mapping[str, Any]
    quorum_version: str
    git_commit: str | None
    started_at: datetime
    finished_at: datetime | None = None
    total_cost_usd: float = 0.0
    total_latency_ms: int = 0  # wall time of the run
    max_cost_usd: float | None = None
    concurrency: int = 0
    max_error_rate: float = 0.2
    filters: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["models"] = [asdict(m) for m in self.models]
        data["scorer_settings"] = dict(self.scorer_settings)
        data["filters"] = dict(self.filters)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        values = dict(data)
        values["models"] = tuple(ModelRecord(**m) for m in data.get("models", ()))
        values["started_at"] = datetime.fromisoformat(data["started_at"])
        finished = data.get("finished_at")
        values["finished_at"] = datetime.fromisoformat(finished) if finished else None
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True, repr=False)
class EvalReport:
    record: RunRecord
    status: RunStatus
    status_reason: str
    cases: tuple[CaseInfo, ...]
    results: tuple[SampleResult, ...]
    run_id: int | None = None

    def __repr__(self) -> str:
        # Not every sample spelled out: in Python 3.11, asyncio.run's Ctrl-C handling
        # builds the repr of its task, result included, twice as it ends (0.15 s for
        # 2,700 samples at the end of every `quorum eval run`); logs want it short too.
        return (
            f"EvalReport(run_id={self.run_id!r}, status={self.status.value!r}, "
            f"cases={len(self.cases)}, results={len(self.results)})"
        )

    def with_run_id(self, run_id: int) -> EvalReport:
        return replace(self, run_id=run_id)

    @property
    def model_names(self) -> list[str]:
        return [m.name for m in self.record.models]

    def case(self, case_id: str) -> CaseInfo | None:
        return next((c for c in self.cases if c.id == case_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status.value,
            "status_reason": self.status_reason,
            "record": self.record.to_dict(),
            "cases": [c.to_dict() for c in self.cases],
            "results": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalReport:
        return cls(
            record=RunRecord.from_dict(data["record"]),
            status=RunStatus(data["status"]),
            status_reason=str(data.get("status_reason", "")),
            cases=tuple(CaseInfo.from_dict(c) for c in data.get("cases", ())),
            results=tuple(SampleResult.from_dict(r) for r in data.get("results", ())),
            run_id=data.get("run_id"),
        )


# ---------------------------------------------------------------- summaries


@dataclass(frozen=True)
class ModelSummary:
    model: str
    samples: int  # samples that ran (scored, unscored or errored)
    errors: int
    pass_rate: stats.Rate  # over scored samples
    pass_at_k: float | None
    pass_hat_k: float | None
    k: int
    consistency: float | None  # mean per-case consistency across samples
    by_category: dict[str, stats.Rate]
    by_severity: dict[str, stats.Rate]
    failure_modes: dict[str, int]
    cost_usd: float | None  # None when the provider's price is unknown for every call
    cost_per_case: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    valid: bool  # error rate within the run's policy
    #: Errors by kind (``deadline``, ``auth``, ..., ``judge``): which failures they were.
    error_kinds: dict[str, int] = field(default_factory=dict)
    #: Requests the provider refused (rate limits) and the time samples waited on limits.
    throttled: int = 0
    throttle_wait_s: float = 0.0

    @property
    def error_rate(self) -> float:
        return self.errors / self.samples if self.samples else 0.0


def case_rates(report: EvalReport, model: str) -> dict[str, float]:
    """Per-case pass rate over the scored samples of one model."""
    outcomes: dict[str, list[bool]] = defaultdict(list)
    for r in report.results:
        if r.model == model and r.passed is not None:
            outcomes[r.case_id].append(r.passed)
    return {case: sum(v) / len(v) for case, v in outcomes.items()}


def case_outcomes(report: EvalReport) -> dict[tuple[str, str], bool]:
    """(case, model) -> passed, by majority of scored samples (ties count as failed)."""
    out: dict[tuple[str, str], bool] = {}
    for model in report.model_names:
        for case, rate in case_rates(report, model).items():
            out[(case, model)] = rate > 0.5
    return out


def summarize(report: EvalReport) -> list[ModelSummary]:
    cases = {c.id: c for c in report.cases}
    k = report.record.samples
    out: list[ModelSummary] = []
    for model in report.model_names:
        rows = [r for r in report.results if r.model == model]
        scored = [r for r in rows if r.passed is not None]
        errors = sum(1 for r in rows if r.error)
        per_case: dict[str, list[bool]] = defaultdict(list)
        for r in scored:
            per_case[r.case_id].append(bool(r.passed))
        at_k = [stats.pass_at_k(len(v), sum(v), min(k, len(v))) for v in per_case.values()]
        hat_k = [stats.pass_hat_k(len(v), sum(v), min(k, len(v))) for v in per_case.values()]
        cons = [stats.consistency(v) for v in per_case.values()]
        ok_rows = [r for r in rows if r.error_source != "model"]
        latencies = [float(r.latency_ms) for r in ok_rows]
        priced = any(r.cost_usd is not None or r.judge_cost_usd is not None for r in rows)
        cost = sum(r.total_cost for r in rows) if priced else None
        n_cases = len({r.case_id for r in rows})

        def info(case_id: str) -> CaseInfo:
            return cases.get(case_id) or CaseInfo(id=case_id, question="")

        out.append(
            ModelSummary(
                model=model,
                samples=len(rows),
                errors=errors,
                pass_rate=stats.Rate.of(sum(1 for r in scored if r.passed), len(scored)),
                pass_at_k=sum(at_k) / len(at_k) if at_k else None,
                pass_hat_k=sum(hat_k) / len(hat_k) if hat_k else None,
                k=k,
                consistency=sum(cons) / len(cons) if cons else None,
                by_category=stats.breakdown(
                    (info(r.case_id).category or "(none)", bool(r.passed)) for r in scored
                ),
                by_severity=stats.breakdown(
                    (info(r.case_id).severity, bool(r.passed)) for r in scored
                ),
                failure_modes=stats.failure_mode_counts(
                    r.verdict.failure_mode.value if r.verdict and r.verdict.failure_mode else None
                    for r in scored
                    if not r.passed
                ),
                cost_usd=cost,
                cost_per_case=cost / n_cases if n_cases and cost is not None else None,
                latency_p50_ms=stats.percentile(latencies, 50),
                latency_p95_ms=stats.percentile(latencies, 95),
                prompt_tokens=sum(r.prompt_tokens or 0 for r in rows),
                completion_tokens=sum(r.completion_tokens or 0 for r in rows),
                valid=(errors / len(rows) if rows else 0.0) <= report.record.max_error_rate,
                error_kinds=error_kinds(rows),
                throttled=sum(r.throttled for r in rows),
                throttle_wait_s=sum(r.throttle_wait_ms for r in rows) / 1000,
            )
        )
    return out


def error_kinds(rows: Sequence[SampleResult]) -> dict[str, int]:
    """How many of ``rows`` errored, by kind (a judge failure is ``judge``)."""
    kinds: dict[str, int] = defaultdict(int)
    for r in rows:
        if r.error:
            kind = "judge" if r.error_source == "judge" else (r.error_kind or "model")
            kinds[kind] += 1
    return dict(sorted(kinds.items()))


def comparisons(report: EvalReport, *, seed: int = 0) -> list[stats.PairedComparison]:
    """Every pair of models in the run, on the cases both answered."""
    names = report.model_names
    rates = {m: case_rates(report, m) for m in names}
    return [
        stats.compare_paired(a, rates[a], b, rates[b], seed=seed)
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    ]


@dataclass(frozen=True)
class Regression:
    case_id: str
    model: str
    question: str
    before: str  # the answer that passed last time (first passing sample)
    now: str  # an answer that fails now (first failing sample)


def find_regressions(previous: EvalReport, current: EvalReport) -> list[Regression]:
    """Cases that passed in ``previous`` and fail now, per model. Only meaningful on the
    same dataset version; returns nothing when the versions differ."""
    if previous.record.dataset_version != current.record.dataset_version:
        return []
    keys = stats.regressions(case_outcomes(previous), case_outcomes(current))

    def first(report: EvalReport, case_id: str, model: str, passed: bool) -> str:
        return next(
            (
                r.text
                for r in report.results
                if r.case_id == case_id and r.model == model and r.passed is passed
            ),
            "",
        )

    out = []
    for case_id, model in keys:
        info = current.case(case_id)
        out.append(
            Regression(
                case_id=case_id,
                model=model,
                question=info.question if info else "",
                before=first(previous, case_id, model, True),
                now=first(current, case_id, model, False),
            )
        )
    return out


def error_rate(results: Sequence[SampleResult]) -> float:
    return sum(1 for r in results if r.error) / len(results) if results else 0.0
