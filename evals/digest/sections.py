"""The weekly digest, as data: what the week's numbers say, in sections.

:class:`~evals.digest.week_data.DigestData` is everything the storage layer gathered for
one week (and the week before); :func:`build_digest` turns it into a :class:`Digest` that Slack blocks, the
terminal and the chart render without computing anything themselves. Pure: no database,
no Slack; every section copes with missing data and says so instead of crashing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from evals import money, stats
from evals.consensus.quality_metrics import (
    ReliabilityBin,
    chance_ece,
    expected_calibration_error,
    reliability_table,
)
from evals.digest.preference import PreferenceScore, bradley_terry
from evals.digest.week_data import (
    DatedEvalResult,
    DigestData,
    Disagreement,
    EvalResult,
    HistoryPoint,
    MissedJob,
    ModelWeek,
    RefitInfo,
    ReviewItem,
)

#: A 👍 rate needs this many ratings before it is ranked or compared.
MIN_RATINGS = 5
#: Below this Spearman ρ the eval ranking is said to not predict production.
RANK_AGREEMENT_WARN = 0.4
#: Confidence bins for the reliability table.
CALIBRATION_BINS = 5
#: A week with fewer questions than this and no benchmark results is called quiet.
QUIET_QUESTIONS = 10
#: How many questions per shadow candidate the digest links for review.
MAX_DISAGREEMENTS = 3
#: Best-answer votes a model needs before the digest ranks it (one vote ranks nothing).
MIN_VOTES = 5
#: Expected calibration error bands for the plain verdict.
ECE_GOOD, ECE_FAIR = 0.05, 0.10
#: An error above this quantile of what chance gives a calibrated confidence is real.
CHANCE_QUANTILE = 0.9
#: Waiting on rate limits for this long (summed over a model's samples) is worth a line.
LIMITS_WAIT_WORTH_SAYING_S = 60.0


def _duration(seconds: float) -> str:
    """ "45 s", "3 min", "2 h 5 min"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


# -- output --------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeekDrop:
    """A real fall between an earlier run this week and the latest one (paired on their
    shared cases; the same significance rule as the change vs last week)."""

    since: datetime  # when the earlier run started
    before_rate: float  # mean pass rate over the shared cases, then
    now_rate: float  # and now
    change: float  # now - then, < 0
    shared: int  # cases both runs scored
    p_value: float


@dataclass(frozen=True)
class EvalLine:
    rate: stats.Rate
    change: float | None  # pass-rate change vs last week (paired on shared cases)
    change_n: int  # cases shared with last week
    within_noise: bool | None  # None: nothing to compare against
    p_value: float | None
    cases: int = 0  # cases behind ``rate`` (``rate.n`` counts samples)
    #: The largest real fall since an earlier run this week (None: none, or no such run).
    week_drop: WeekDrop | None = None
    throttled: int = 0  # requests the provider refused with a rate limit
    throttle_wait_s: float = 0.0
    lost_to_deadline: int = 0

    @property
    def limits_text(self) -> str:
        """What rate limits cost this model's run, when it mattered (a sample lost to the
        deadline, or a minute or more of waiting): "the provider refused 57 requests; its
        samples waited 3 min on rate limits; 2 samples lost at the deadline", else ""."""
        if not self.lost_to_deadline and self.throttle_wait_s < LIMITS_WAIT_WORTH_SAYING_S:
            return ""
        parts = [f"the provider refused {self.throttled} requests"] if self.throttled else []
        if self.throttle_wait_s >= LIMITS_WAIT_WORTH_SAYING_S:
            parts.append(f"its samples waited {_duration(self.throttle_wait_s)} on rate limits")
        if self.lost_to_deadline:
            parts.append(
                f"{self.lost_to_deadline} sample{'s' if self.lost_to_deadline != 1 else ''} "
                "lost at the deadline, not in the pass rate"
            )
        return "; ".join(parts)

    @property
    def size_text(self) -> str:
        """ "48 samples on 16 cases" (or "16 cases" with one sample each)."""
        if not self.cases or self.cases == self.rate.n:
            return f"{self.rate.n} cases"
        return f"{self.cases} cases, {self.rate.n} samples"

    def week_drop_text(self, timezone: str) -> str:
        """ "fell 50 pts since Tue 17 Nov's run (p = 0.002, 20 shared cases)", or ""."""
        drop = self.week_drop
        if drop is None:
            return ""
        return (
            f"fell {abs(drop.change) * 100:.0f} pts since {run_day(drop.since, timezone)}'s "
            f"run (p = {drop.p_value:.2g}, {drop.shared} shared cases)"
        )

    @property
    def change_text(self) -> str:
        if self.change is None or self.within_noise is None:
            return "no run last week to compare"
        if self.change_n == 0:
            return "no cases shared with last week"
        sign = "+" if self.change >= 0 else "−"
        points = f"{sign}{abs(self.change) * 100:.0f} pts"
        if self.within_noise:
            return f"{points} vs last week, within noise ({self.change_n} shared cases)"
        return f"{points} vs last week (p = {self.p_value:.2g}, {self.change_n} shared cases)"


@dataclass(frozen=True)
class ModelLine:
    model: str
    role: str
    eval: EvalLine | None
    thumbs: stats.Rate | None  # None: no ratings
    thumbs_change: float | None  # significant 👍-rate change vs last week, else None
    volume: int
    preference: PreferenceScore | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    cost_per_100: float | None


@dataclass(frozen=True)
class RankAgreement:
    n: int
    rho: float | None  # None: fewer than 3 models with both numbers, or no spread
    p_value: float | None
    models: tuple[str, ...]

    @property
    def warning(self) -> str | None:
        if self.rho is None or self.rho >= RANK_AGREEMENT_WARN:
            return None
        return (
            f"The benchmark is not predicting production: eval and 👍 rankings "
            f"{'disagree' if self.rho <= 0 else 'barely agree'} (Spearman ρ = {self.rho:.2f}, "
            f"n = {self.n} models)."
        )

    @property
    def text(self) -> str:
        if self.rho is None:
            return (
                f"Not enough to compare rankings: {self.n} model(s) have both an eval pass rate "
                f"and at least {MIN_RATINGS} ratings (3 needed)."
            )
        verdict = "agree" if self.rho >= RANK_AGREEMENT_WARN else "do not agree"
        return f"Eval and production rankings {verdict}: Spearman ρ = {self.rho:.2f}, n = {self.n}."


@dataclass(frozen=True)
class CalibrationSummary:
    n: int
    bins: tuple[ReliabilityBin, ...]
    ece: float | None
    refit: RefitInfo | None
    #: The ECE that these answers' confidences reach by chance one week in ten even when
    #: exactly right (:data:`CHANCE_QUANTILE`): on few answers it is large.
    chance_ece: float | None = None

    @property
    def verdict(self) -> str:
        """The calibration error in plain words, with the direction of the error; an error
        that chance alone would give on this few answers is not called poor."""
        if self.ece is None:
            return "Not measured: no 👍/👎 or corrections on consensus answers this week."
        said = sum(b.mean_confidence * b.count for b in self.bins)
        right = sum(b.accuracy * b.count for b in self.bins)
        total = sum(b.count for b in self.bins) or 1
        gap = (said - right) / total
        direction = f"it says {said / total:.0%} on average where users agreed {right / total:.0%}"
        few = f" (only {self.n} judged answers)" if self.n < 30 else ""
        if self.ece <= ECE_GOOD:
            return f"Well calibrated{few}: a confidence can be taken at face value."
        if self.chance_ece is not None and self.ece <= self.chance_ece:
            return (
                f"Calibrated as far as {self.n} judged answers can show: {direction}, a gap "
                "that chance alone gives on so few at least one week in ten."
            )
        if self.ece <= ECE_FAIR:
            return f"Roughly calibrated{few}: {direction}."
        way = "overconfident" if gap > 0 else "underconfident"
        return f"Poorly calibrated, {way}{few}: {direction}. The weekly refit can correct it."


@dataclass(frozen=True)
class Regression:
    model: str
    case_id: str


@dataclass(frozen=True)
class ShadowLine:
    model: str
    questions: int
    mean_agreement: float | None
    eval_rate: float | None
    panel_eval_rate: float | None  # mean pass rate of the panel this week
    cost_delta_per_100: float | None  # vs the panel's mean
    latency_p50_delta_ms: float | None
    disagreements: tuple[Disagreement, ...]


def run_day(at: datetime, timezone: str) -> str:
    """When a run started, as the digest's readers say it: "Tue 17 Nov"."""
    try:
        zone: tzinfo = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return f"{at.astimezone(zone):%a %d %b}"


def _samples(ev: EvalLine) -> str:
    """ ", 60 samples" when the latest run took several samples per case, else ""."""
    return f", {ev.rate.n} samples" if ev.cases and ev.cases != ev.rate.n else ""


def _fall(model: str, ev: EvalLine, timezone: str) -> str | None:
    """ "Look into m: ..." for the larger real fall of ``ev``, vs last week or since an
    earlier run this week (that one on a tie: it is the more recent news); None."""
    week_over_week = (
        ev.change if ev.within_noise is False and ev.change is not None and ev.change < 0 else None
    )
    drop = ev.week_drop
    if drop is not None and (week_over_week is None or drop.change <= week_over_week):
        return (
            f"Look into {model}: its eval pass rate fell {abs(drop.change) * 100:.0f} pts, "
            f"from {drop.before_rate:.0%} to {drop.now_rate:.0%}, since this week's run of "
            f"{run_day(drop.since, timezone)} (p = {drop.p_value:.2g}, {drop.shared} shared "
            f"cases{_samples(ev)})."
        )
    if week_over_week is not None:
        return (
            f"Look into {model}: its eval pass rate fell {abs(week_over_week) * 100:.0f} pts "
            f"to {ev.rate.rate or 0:.0%} (p = {ev.p_value:.2g}, {ev.change_n} shared "
            f"cases{_samples(ev)})."
        )
    return None


def _decisions(
    lines: Sequence[ModelLine],
    regressions: Sequence[Regression],
    shadow: Sequence[ShadowLine],
    review_total: int,
    timezone: str = "UTC",
) -> tuple[str, ...]:
    """What the team should do this week, most urgent first (a model falling for real,
    vs last week or since an earlier run this week; regressed cases; a shadow candidate
    worth promoting; cases to review)."""
    out: list[str] = []
    for line in lines:
        fall = _fall(line.model, line.eval, timezone) if line.eval else None
        if fall:
            out.append(fall)
    if regressions:
        counts: dict[str, int] = {}
        for r in regressions:
            counts[r.model] = counts.get(r.model, 0) + 1
        per_model = ", ".join(f"{m} {n}" for m, n in sorted(counts.items()))
        out.append(
            f"Check {len(regressions)} regressed case(s) ({per_model}): they passed before "
            "and fail now."
        )
    for s in shadow:
        pitch = recommendation(s)
        if pitch:
            out.append(pitch)
    if review_total:
        out.append(f"Review {review_total} proposed eval case(s) with `/compare cases`.")
    return tuple(out)


def recommendation(s: ShadowLine) -> str:
    """One line when a shadow candidate beats the panel on quality, cost or latency
    without being worse on quality; "" otherwise."""
    if s.eval_rate is None or s.panel_eval_rate is None:
        return ""
    better: list[str] = []
    quality = s.eval_rate - s.panel_eval_rate
    if quality > 0:
        better.append(
            f"passes {s.eval_rate:.0%} of the benchmark vs the panel's {s.panel_eval_rate:.0%}"
        )
    if quality < -0.02:
        return ""  # cheaper or faster, but worse: not a recommendation
    if s.cost_delta_per_100 is not None and s.cost_delta_per_100 < 0:
        better.append(f"costs {money.usd(abs(s.cost_delta_per_100))} less per 100 questions")
    if s.latency_p50_delta_ms is not None and s.latency_p50_delta_ms < -50:
        better.append(f"answers {abs(s.latency_p50_delta_ms) / 1000:.1f} s faster (median)")
    if not better:
        return ""
    return f"Consider {s.model} for the panel: it " + ", ".join(better) + "."


@dataclass(frozen=True)
class Digest:
    period: str
    start: datetime
    end: datetime
    timezone: str
    headline: str
    quiet: bool
    questions: int
    models: tuple[ModelLine, ...]
    rank_agreement: RankAgreement
    calibration: CalibrationSummary
    regressions: tuple[Regression, ...]
    new_failure_modes: tuple[tuple[str, int], ...]
    review: tuple[ReviewItem, ...]
    review_total: int
    shadow: tuple[ShadowLine, ...]
    missed: tuple[MissedJob, ...]
    notes: tuple[str, ...]
    history: tuple[HistoryPoint, ...]
    history_weeks: tuple[str, ...] = ()
    #: What to do this week, most urgent first; shown before everything else.
    decisions: tuple[str, ...] = ()

    @property
    def warnings(self) -> list[str]:
        out = [self.rank_agreement.warning] if self.rank_agreement.warning else []
        for m in self.missed:
            if m.status == "missed":
                out.append(f"The {m.job} for {m.period} was missed and did not run.")
            else:
                out.append(f"The {m.job} for {m.period} failed; see the logs.")
        return out


# -- sections ------------------------------------------------------------------------------


def _week_drop(now: EvalResult, earlier: Sequence[DatedEvalResult]) -> WeekDrop | None:
    """The largest real fall from an earlier run this week to the latest (the earliest
    run on a tie); a fall within noise, or on no shared cases, is none."""
    drops: list[WeekDrop] = []
    for run in earlier:
        then = run.result.per_case
        cmp = stats.compare_paired("now", now.per_case, "then", then)
        if cmp.n == 0 or not cmp.significant or cmp.diff >= 0:
            continue
        shared = set(now.per_case) & set(then)
        drops.append(
            WeekDrop(
                since=run.started_at,
                before_rate=sum(then[k] for k in shared) / len(shared),
                now_rate=sum(now.per_case[k] for k in shared) / len(shared),
                change=cmp.diff,
                shared=cmp.n,
                p_value=cmp.p_value,
            )
        )
    return min(drops, key=lambda d: (d.change, d.since), default=None)


def _eval_line(week: ModelWeek) -> EvalLine | None:
    now = week.eval_now
    if now is None or now.n == 0:
        return None
    rate = stats.Rate.of(now.passed, now.n)
    cases = len(now.per_case)
    drop = _week_drop(now, week.eval_earlier)
    before = week.eval_before
    if before is None or before.n == 0:
        line = EvalLine(rate, None, 0, None, None, cases, drop)
    else:
        cmp = stats.compare_paired("now", now.per_case, "before", before.per_case)
        if cmp.n == 0:
            line = EvalLine(rate, 0.0, 0, True, None, cases, drop)
        else:
            line = EvalLine(rate, cmp.diff, cmp.n, not cmp.significant, cmp.p_value, cases, drop)
    return replace(
        line,
        throttled=now.throttled,
        throttle_wait_s=now.throttle_wait_s,
        lost_to_deadline=now.lost_to_deadline,
    )


def _thumbs_change(week: ModelWeek) -> float | None:
    """The 👍-rate change vs last week when Fisher's exact test says it is real."""
    now_n = week.thumbs_up + week.thumbs_down
    before_n = week.thumbs_up_before + week.thumbs_down_before
    if now_n < MIN_RATINGS or before_n < MIN_RATINGS:
        return None
    table = [[week.thumbs_up, week.thumbs_down], [week.thumbs_up_before, week.thumbs_down_before]]
    # Lazy: scipy.stats takes ~0.5 s to import; most commands never test anything.
    from scipy import stats as sps

    p_value = float(sps.fisher_exact(table).pvalue)
    if p_value >= stats.ALPHA:
        return None
    return week.thumbs_up / now_n - week.thumbs_up_before / before_n


def _model_line(week: ModelWeek, preference: Mapping[str, PreferenceScore]) -> ModelLine:
    rated = week.thumbs_up + week.thumbs_down
    return ModelLine(
        model=week.model,
        role=week.role,
        eval=_eval_line(week),
        thumbs=stats.Rate.of(week.thumbs_up, rated) if rated else None,
        thumbs_change=_thumbs_change(week),
        volume=week.answers,
        preference=preference.get(week.model),
        latency_p50_ms=week.latency_p50_ms,
        latency_p95_ms=week.latency_p95_ms,
        cost_per_100=100 * week.mean_cost_usd if week.mean_cost_usd is not None else None,
    )


def rank_agreement(lines: Sequence[ModelLine]) -> RankAgreement:
    """Spearman ρ between eval pass rate and 👍 rate over the panel models that have both."""
    both = [
        line
        for line in lines
        if line.role == "panel"
        and line.eval is not None
        and line.thumbs is not None
        and line.thumbs.n >= MIN_RATINGS
    ]
    names = tuple(line.model for line in both)
    evals_ = [line.eval.rate.rate or 0.0 for line in both if line.eval]
    thumbs = [line.thumbs.rate or 0.0 for line in both if line.thumbs]
    result = stats.spearman(evals_, thumbs)
    if result is None:
        return RankAgreement(len(both), None, None, names)
    return RankAgreement(len(both), result[0], result[1], names)


def calibration_summary(
    pairs: Sequence[tuple[float, bool]], refit: RefitInfo | None, bins: int = CALIBRATION_BINS
) -> CalibrationSummary:
    """Reliability by equal-width confidence bins (the non-empty ones), the expected
    calibration error and the error chance would give (both ``None`` without labels)."""
    if not pairs:
        return CalibrationSummary(0, (), None, refit)
    labels = [ok for _, ok in pairs]
    probs = [conf for conf, _ in pairs]
    table = reliability_table(labels, probs, bins)
    return CalibrationSummary(
        len(pairs),
        tuple(b for b in table if b.count),
        expected_calibration_error(labels, probs, bins),
        refit,
        chance_ece(probs, bins, quantile=CHANCE_QUANTILE),
    )


def _shadow_lines(data: DigestData, lines: Sequence[ModelLine]) -> tuple[ShadowLine, ...]:
    by_model = {line.model: line for line in lines}
    panel = [line for line in lines if line.role == "panel"]
    panel_evals = [p.eval.rate.rate for p in panel if p.eval and p.eval.rate.rate is not None]
    panel_eval = sum(panel_evals) / len(panel_evals) if panel_evals else None
    panel_costs = [p.cost_per_100 for p in panel if p.cost_per_100 is not None]
    panel_cost = sum(panel_costs) / len(panel_costs) if panel_costs else None
    panel_p50s = [p.latency_p50_ms for p in panel if p.latency_p50_ms is not None]
    panel_p50 = sum(panel_p50s) / len(panel_p50s) if panel_p50s else None
    out: list[ShadowLine] = []
    for shadow in data.shadow:
        line = by_model.get(shadow.model)
        eval_rate = line.eval.rate.rate if line and line.eval else None
        cost = line.cost_per_100 if line else None
        p50 = line.latency_p50_ms if line else None
        agreements = list(shadow.agreements)
        out.append(
            ShadowLine(
                model=shadow.model,
                questions=len(agreements),
                mean_agreement=sum(agreements) / len(agreements) if agreements else None,
                eval_rate=eval_rate,
                panel_eval_rate=panel_eval,
                cost_delta_per_100=cost - panel_cost
                if cost is not None and panel_cost is not None
                else None,
                latency_p50_delta_ms=p50 - panel_p50
                if p50 is not None and panel_p50 is not None
                else None,
                disagreements=tuple(
                    sorted(shadow.disagreements, key=lambda d: d.agreement)[:MAX_DISAGREEMENTS]
                ),
            )
        )
    return tuple(out)


def _regressions(data: DigestData) -> tuple[Regression, ...]:
    """Cases that passed in the model's run before its latest one (an earlier run this
    week, else last week's) and fail in the latest."""
    out: list[Regression] = []
    for week in data.models:
        if week.eval_now is None:
            continue
        before: dict[str, bool] = {}
        earlier = [week.eval_before] if week.eval_before is not None else []
        earlier += [run.result for run in week.eval_earlier]  # oldest first: the latest wins
        for result in earlier:
            before.update({k: v > 0.5 for k, v in result.per_case.items()})
        now = {k: v > 0.5 for k, v in week.eval_now.per_case.items()}
        out.extend(Regression(week.model, case) for case in stats.regressions(before, now))
    return tuple(out)


def _new_failure_modes(data: DigestData) -> tuple[tuple[str, int], ...]:
    now: dict[str, int] = dict(data.production_failure_modes)
    for week in data.models:
        if week.eval_now:
            for mode, count in week.eval_now.failure_modes.items():
                now[mode] = now.get(mode, 0) + count
    seen = {m for m, c in data.failure_modes_before.items() if c > 0}
    for week in data.models:
        if week.eval_before:
            seen |= {m for m, c in week.eval_before.failure_modes.items() if c > 0}
    fresh = [(m, c) for m, c in now.items() if c > 0 and m not in seen]
    return tuple(sorted(fresh, key=lambda mc: (-mc[1], mc[0])))


def _pts(delta: float) -> str:
    return f"{'up' if delta > 0 else 'down'} {abs(delta) * 100:.0f} pts"


def _headline(
    data: DigestData,
    lines: Sequence[ModelLine],
    agreement: RankAgreement,
    regressions: Sequence[Regression],
    quiet: bool,
) -> str:
    """The one thing that changed most: the largest real (not noise) rate change, else the
    most important warning, else an honest "nothing moved"."""
    candidates: list[tuple[float, str]] = []
    for line in lines:
        drop = line.eval.week_drop if line.eval else None
        if drop is not None:
            candidates.append(
                (
                    abs(drop.change),
                    f"{line.model}'s eval pass rate fell {abs(drop.change) * 100:.0f} pts "
                    f"since this week's run of {run_day(drop.since, data.timezone)} "
                    f"(to {drop.now_rate:.0%} on {drop.shared} shared cases).",
                )
            )
        if line.eval and line.eval.within_noise is False and line.eval.change is not None:
            candidates.append(
                (
                    abs(line.eval.change),
                    f"{line.model}'s eval pass rate went {_pts(line.eval.change)} "
                    f"(to {line.eval.rate.rate or 0:.0%}).",
                )
            )
        if line.thumbs_change is not None:
            rate = line.thumbs.rate if line.thumbs else 0.0
            candidates.append(
                (
                    abs(line.thumbs_change),
                    f"{line.model}'s 👍 rate went {_pts(line.thumbs_change)} (to {rate or 0:.0%}).",
                )
            )
    if candidates:
        return max(candidates, key=lambda c: c[0])[1]
    if regressions:
        models = sorted({r.model for r in regressions})
        return f"{len(regressions)} eval case(s) regressed this week ({', '.join(models)})."
    if agreement.warning:
        return agreement.warning
    if quiet:
        if data.questions == 0:
            return "A quiet week: no questions and no benchmark results."
        return f"A quiet week: {data.questions} question(s), no benchmark results."
    if not any(line.eval for line in lines):
        return f"{data.questions} question(s) this week and no benchmark results to compare."
    return "Nothing changed beyond noise this week."


def build_digest(data: DigestData) -> Digest:
    names = [w.model for w in data.models if w.role == "panel"]
    preference = {p.model: p for p in bradley_terry(data.votes, names)} if data.votes else {}
    lines = tuple(_model_line(w, preference) for w in data.models)
    agreement = rank_agreement(lines)
    regressions = _regressions(data)
    has_eval = any(line.eval for line in lines)
    quiet = data.questions < QUIET_QUESTIONS and not has_eval
    shadow = _shadow_lines(data, lines)
    review_total = max(data.review_total, len(data.review))
    notes: list[str] = []
    if data.questions == 0:
        notes.append("No /compare questions this week.")
    if not has_eval:
        notes.append("No benchmark results this week.")
    if not data.calibration:
        notes.append("No 👍/👎 or corrections on consensus answers: calibration not measured.")
    return Digest(
        period=data.period,
        start=data.start,
        end=data.end,
        timezone=data.timezone,
        headline=_headline(data, lines, agreement, regressions, quiet),
        quiet=quiet,
        questions=data.questions,
        models=lines,
        rank_agreement=agreement,
        calibration=calibration_summary(data.calibration, data.refit),
        regressions=regressions,
        new_failure_modes=_new_failure_modes(data),
        review=tuple(data.review),
        review_total=review_total,
        shadow=shadow,
        missed=tuple(data.missed),
        notes=tuple(notes),
        history=tuple(data.history),
        history_weeks=tuple(data.history_weeks),
        decisions=_decisions(lines, regressions, shadow, review_total, data.timezone),
    )
