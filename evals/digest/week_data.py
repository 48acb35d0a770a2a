"""What the storage layer gathers for one week of the digest (and the weeks before): the
input of :func:`evals.digest.sections.build_digest`, as plain records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from evals.digest.preference import PreferencePick


@dataclass(frozen=True)
class EvalResult:
    """One model's scheduled benchmark in one week."""

    passed: int  # scored samples that passed
    n: int  # scored samples
    per_case: Mapping[str, float]  # case id -> pass rate over its samples (0..1)
    failure_modes: Mapping[str, int] = field(default_factory=dict)
    throttled: int = 0  # requests the provider refused with a rate limit, all samples
    throttle_wait_s: float = 0.0  # time its samples waited on rate limits
    lost_to_deadline: int = 0  # samples still rate limited at the run's deadline (unscored)


@dataclass(frozen=True)
class DatedEvalResult:
    """One model's results in one benchmark run, with when the run started."""

    started_at: datetime
    result: EvalResult


@dataclass(frozen=True)
class ModelWeek:
    """One model's week in production (and in the benchmark)."""

    model: str
    role: str = "panel"  # "panel" | "shadow"
    eval_now: EvalResult | None = None  # its latest run this week
    eval_before: EvalResult | None = None  # its latest run last week
    #: Its other runs this week, before the latest one (oldest first).
    eval_earlier: Sequence[DatedEvalResult] = ()
    thumbs_up: int = 0
    thumbs_down: int = 0
    thumbs_up_before: int = 0
    thumbs_down_before: int = 0
    answers: int = 0  # questions the model answered (volume)
    latency_p50_ms: float | None = None  # over its successful answers
    latency_p95_ms: float | None = None
    mean_cost_usd: float | None = None  # per answer, over answers with a known price


@dataclass(frozen=True)
class Disagreement:
    """A question where a shadow candidate disagreed with the served consensus."""

    run_id: int
    question: str
    agreement: float
    link: str | None = None


@dataclass(frozen=True)
class ShadowWeek:
    model: str
    agreements: Sequence[float]  # agreement with the served consensus, per question
    disagreements: Sequence[Disagreement] = ()  # lowest agreement first


@dataclass(frozen=True)
class RefitInfo:
    """What the weekly refit did (see :mod:`evals.consensus.refit`)."""

    refitted: bool
    reason: str
    calibrator_id: str | None = None


@dataclass(frozen=True)
class ReviewItem:
    case_id: str
    question: str


@dataclass(frozen=True)
class MissedJob:
    job: str
    period: str
    status: str  # "missed" | "failed"


@dataclass(frozen=True)
class HistoryPoint:
    """One model's week for the chart."""

    week: str
    model: str
    pass_rate: float | None
    thumbs_rate: float | None


@dataclass(frozen=True)
class DigestData:
    period: str  # e.g. "2026-W48"
    start: datetime
    end: datetime
    timezone: str
    models: Sequence[ModelWeek] = ()
    questions: int = 0  # panel runs this week
    votes: Sequence[PreferencePick] = ()
    calibration: Sequence[tuple[float, bool]] = ()  # (served confidence, users agreed)
    refit: RefitInfo | None = None
    failure_modes_before: Mapping[str, int] = field(default_factory=dict)
    production_failure_modes: Mapping[str, int] = field(default_factory=dict)
    review: Sequence[ReviewItem] = ()
    review_total: int = 0
    shadow: Sequence[ShadowWeek] = ()
    missed: Sequence[MissedJob] = ()
    history: Sequence[HistoryPoint] = ()
    history_weeks: Sequence[str] = ()  # every week of the chart, oldest first, even empty ones
