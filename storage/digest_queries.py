"""The weekly aggregates the digest needs, as :mod:`evals.digest.sections` records.

Production numbers come from panel runs, answers, signals, corrections and votes;
benchmark numbers from the stored eval runs; proposed cases from the case tables;
missed jobs from ``job_runs``. Windows are half-open ``[start, end)`` in UTC.

Attribution rules (docs/digest.md repeats them):

- a model's 👍 rate counts 👍/👎 left on its own answer, plus those left on the result
  message when its answer was the consensus served;
- calibration pairs are the served confidence against whether people agreed
  (:func:`storage.labels_repo.production_labels`);
- a shadow candidate's agreement is its answer's agreement with the served consensus.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from evals.cases.schema import CaseStatus
from evals.digest.preference import PreferencePick
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
    ShadowWeek,
)
from evals.records import ErrorKind
from evals.runs.report import RunStatus
from storage import case_repo
from storage.labels_repo import production_labels
from storage.panel_runs_repo import model_stats
from storage.records import AnswerRole, SignalKind
from storage.signals_repo import best_answer_votes
from storage.tables.eval_runs import EvalResultRow, EvalRunRow
from storage.tables.jobs import JobPeriodRow, JobStatus
from storage.tables.panel_runs import AnswerRow, CorrectionRow, PanelRunRow, SignalRow

WEEK = timedelta(days=7)
#: How far back a failure mode must be unseen to count as new.
FAILURE_MODE_MEMORY = timedelta(weeks=8)
REVIEW_LIST = 5


@dataclass(frozen=True)
class Thumbs:
    up: int = 0
    down: int = 0

    @property
    def rate(self) -> float | None:
        total = self.up + self.down
        return self.up / total if total else None


def slack_link(channel_id: str | None, ts: str | None) -> str | None:
    """A link to a Slack message that works in any workspace the reader belongs to."""
    if not channel_id or not ts:
        return None
    return f"https://slack.com/archives/{channel_id}/p{ts.replace('.', '')}"


def _eval_samples(
    session: Session, start: datetime, end: datetime, workspace: str
) -> tuple[
    dict[str, dict[int, list[tuple[str, bool, str | None]]]], dict[int, datetime], list[int]
]:
    """The scored samples of the whole-set, trustworthy eval runs started in the window:
    model -> run id -> [(case id, passed, failure mode)], each run's start, and the run
    ids latest first."""
    runs = session.execute(
        select(EvalRunRow.id, EvalRunRow.record, EvalRunRow.started_at)
        .where(
            EvalRunRow.workspace_id == workspace,
            EvalRunRow.started_at >= start,
            EvalRunRow.started_at < end,
            EvalRunRow.status.in_([RunStatus.COMPLETE.value, RunStatus.PARTIAL.value]),
        )
        .order_by(EvalRunRow.started_at.desc(), EvalRunRow.id.desc())
    ).all()
    kept = [(run_id, at) for run_id, record, at in runs if not (record or {}).get("filters")]
    run_ids = [run_id for run_id, _ in kept]
    by_model_run: dict[str, dict[int, list[tuple[str, bool, str | None]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    if not run_ids:
        return by_model_run, {}, []
    rows = session.execute(
        select(
            EvalResultRow.run_id,
            EvalResultRow.model,
            EvalResultRow.case_id,
            EvalResultRow.passed,
            EvalResultRow.failure_mode,
        ).where(
            EvalResultRow.workspace_id == workspace,
            EvalResultRow.run_id.in_(run_ids),
            EvalResultRow.passed.is_not(None),
        )
    ).all()
    for run_id, model, case_id, passed, mode in rows:
        by_model_run[model][run_id].append((case_id, bool(passed), mode))
    return by_model_run, dict(kept), run_ids


@dataclass(frozen=True)
class _LimitCost:
    """What rate limits cost one model in one run, over all its samples (scored or not)."""

    throttled: int = 0
    wait_ms: int = 0
    lost_to_deadline: int = 0

    def __add__(self, other: _LimitCost) -> _LimitCost:
        return _LimitCost(
            self.throttled + other.throttled,
            self.wait_ms + other.wait_ms,
            self.lost_to_deadline + other.lost_to_deadline,
        )


def _limit_costs(
    session: Session, run_ids: Sequence[int], workspace: str
) -> dict[tuple[str, int], _LimitCost]:
    """(model, run id) -> its samples' refusals, waiting and samples lost to the deadline."""
    if not run_ids:
        return {}
    lost = case((EvalResultRow.error_kind == ErrorKind.DEADLINE.value, 1), else_=0)
    rows = session.execute(
        select(
            EvalResultRow.model,
            EvalResultRow.run_id,
            func.sum(EvalResultRow.throttled),
            func.sum(EvalResultRow.throttle_wait_ms),
            func.sum(lost),
        )
        .where(EvalResultRow.workspace_id == workspace, EvalResultRow.run_id.in_(run_ids))
        .group_by(EvalResultRow.model, EvalResultRow.run_id)
    ).all()
    return {
        (model, run_id): _LimitCost(int(throttled or 0), int(wait or 0), int(deadline or 0))
        for model, run_id, throttled, wait, deadline in rows
    }


def _result(
    samples: Sequence[tuple[str, bool, str | None]], limits: _LimitCost = _LimitCost()
) -> EvalResult:
    per_case: dict[str, list[bool]] = defaultdict(list)
    modes: dict[str, int] = defaultdict(int)
    for case_id, passed, mode in samples:
        per_case[case_id].append(passed)
        if not passed and mode:
            modes[mode] += 1
    return EvalResult(
        passed=sum(1 for _, passed, _ in samples if passed),
        n=len(samples),
        per_case={c: sum(v) / len(v) for c, v in per_case.items()},
        failure_modes=dict(modes),
        throttled=limits.throttled,
        throttle_wait_s=limits.wait_ms / 1000,
        lost_to_deadline=limits.lost_to_deadline,
    )


def eval_results(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    workspace: str,
    latest_only: bool = True,
) -> dict[str, EvalResult]:
    """Per model, its benchmark results from eval runs started in the window.

    Only finished, trustworthy runs count (complete or partial, not invalid) and only
    whole-set runs (no case filters). With ``latest_only`` each model's numbers come
    from the latest such run that included it; otherwise from all of them.
    """
    by_model_run, _, run_ids = _eval_samples(session, start, end, workspace)
    costs = _limit_costs(session, run_ids, workspace)
    order = {run_id: i for i, run_id in enumerate(run_ids)}  # 0 = latest
    out: dict[str, EvalResult] = {}
    for model, per_run in by_model_run.items():
        chosen = sorted(per_run, key=order.__getitem__)
        if latest_only:
            chosen = chosen[:1]
        spent = sum((costs.get((model, run_id), _LimitCost()) for run_id in chosen), _LimitCost())
        out[model] = _result([s for run_id in chosen for s in per_run[run_id]], spent)
    return out


def eval_runs(
    session: Session, start: datetime, end: datetime, *, workspace: str
) -> dict[str, list[DatedEvalResult]]:
    """Per model, its results in each eval run started in the window that included it
    (the same runs as :func:`eval_results`), oldest first."""
    by_model_run, started, run_ids = _eval_samples(session, start, end, workspace)
    costs = _limit_costs(session, run_ids, workspace)
    oldest_first = list(reversed(run_ids))
    return {
        model: [
            DatedEvalResult(
                started[run_id],
                _result(per_run[run_id], costs.get((model, run_id), _LimitCost())),
            )
            for run_id in oldest_first
            if run_id in per_run
        ]
        for model, per_run in by_model_run.items()
    }


def question_count(session: Session, start: datetime, end: datetime, *, workspace: str) -> int:
    return int(
        session.scalar(
            select(func.count(PanelRunRow.id)).where(
                PanelRunRow.workspace_id == workspace,
                PanelRunRow.created_at >= start,
                PanelRunRow.created_at < end,
            )
        )
        or 0
    )


def thumbs_by_model(
    session: Session, start: datetime, end: datetime, *, workspace: str
) -> dict[str, Thumbs]:
    """👍/👎 per member (see the module's attribution rule), by signal time."""
    rows = session.execute(
        select(SignalRow.kind, AnswerRow.member, PanelRunRow.consensus_member)
        .join(PanelRunRow, PanelRunRow.id == SignalRow.run_id)
        .outerjoin(AnswerRow, AnswerRow.id == SignalRow.answer_id)
        .where(
            SignalRow.workspace_id == workspace,
            PanelRunRow.workspace_id == workspace,
            SignalRow.retracted_at.is_(None),
            SignalRow.kind.in_([SignalKind.UP.value, SignalKind.DOWN.value]),
            SignalRow.created_at >= start,
            SignalRow.created_at < end,
        )
    ).all()
    ups: dict[str, int] = defaultdict(int)
    downs: dict[str, int] = defaultdict(int)
    for kind, member, consensus_member in rows:
        who = member or consensus_member
        if who is None:
            continue
        if kind == SignalKind.UP.value:
            ups[who] += 1
        else:
            downs[who] += 1
    return {m: Thumbs(ups[m], downs[m]) for m in sorted(set(ups) | set(downs))}


def votes(
    session: Session, start: datetime, end: datetime, *, workspace: str
) -> list[PreferencePick]:
    """Best-answer votes cast in the window, as preference comparisons."""
    return [
        PreferencePick(winner=v.chosen, candidates=v.candidates)
        for v in best_answer_votes(session, start, workspace=workspace)
        if v.created_at < end and v.chosen in v.candidates
    ]


def calibration_pairs(
    session: Session, start: datetime, end: datetime, *, workspace: str
) -> list[tuple[float, bool]]:
    labels = production_labels(session, start, end, workspace=workspace)
    return [(label.confidence, label.correct) for label in labels]


def correction_failure_modes(
    session: Session, start: datetime, end: datetime, *, workspace: str
) -> dict[str, int]:
    rows = session.execute(
        select(CorrectionRow.failure_mode, func.count(CorrectionRow.id))
        .where(
            CorrectionRow.workspace_id == workspace,
            CorrectionRow.created_at >= start,
            CorrectionRow.created_at < end,
        )
        .group_by(CorrectionRow.failure_mode)
    ).all()
    return {str(mode): int(n) for mode, n in rows}


def shadow_weeks(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    workspace: str,
    max_disagreements: int = 3,
) -> list[ShadowWeek]:
    rows = session.execute(
        select(
            AnswerRow.member,
            AnswerRow.agreement,
            PanelRunRow.id,
            PanelRunRow.question,
            PanelRunRow.channel_id,
            PanelRunRow.message_ts,
        )
        .join(PanelRunRow, PanelRunRow.id == AnswerRow.run_id)
        .where(
            AnswerRow.workspace_id == workspace,
            PanelRunRow.workspace_id == workspace,
            AnswerRow.role == AnswerRole.SHADOW.value,
            AnswerRow.created_at >= start,
            AnswerRow.created_at < end,
            AnswerRow.error_kind.is_(None),
            AnswerRow.agreement.is_not(None),
        )
        .order_by(AnswerRow.id)
    ).all()
    agreements: dict[str, list[float]] = defaultdict(list)
    disagreements: dict[str, list[Disagreement]] = defaultdict(list)
    for member, agreement, run_id, question, channel, ts in rows:
        if agreement is None:
            continue
        agreements[member].append(float(agreement))
        disagreements[member].append(
            Disagreement(
                run_id=run_id,
                question=question,
                agreement=float(agreement),
                link=slack_link(channel, ts),
            )
        )
    return [
        ShadowWeek(
            model=m,
            agreements=agreements[m],
            disagreements=sorted(disagreements[m], key=lambda d: (d.agreement, d.run_id))[
                :max_disagreements
            ],
        )
        for m in sorted(agreements)
    ]


def review_queue(
    session: Session, limit: int = REVIEW_LIST, *, workspace: str
) -> tuple[list[ReviewItem], int]:
    page = case_repo.list_cases(
        session, workspace=workspace, status=CaseStatus.PROPOSED, limit=limit
    )
    return [ReviewItem(c.id, c.input.question) for c in page.cases], page.total


def missed_jobs(
    session: Session, start: datetime, end: datetime, *, workspace: str
) -> list[MissedJob]:
    rows = session.scalars(
        select(JobPeriodRow)
        .where(
            JobPeriodRow.workspace_id == workspace,
            JobPeriodRow.status.in_([JobStatus.MISSED.value, JobStatus.FAILED.value]),
            JobPeriodRow.started_at >= start,
            JobPeriodRow.started_at < end,
        )
        .order_by(JobPeriodRow.started_at, JobPeriodRow.id)
    )
    return [MissedJob(r.job, r.period, r.status) for r in rows]


def model_weeks(
    session: Session,
    start: datetime,
    end: datetime,
    *,
    workspace: str,
    panel: Sequence[str] = (),
    shadow: Sequence[str] = (),
) -> list[ModelWeek]:
    """One :class:`ModelWeek` per model seen this week or configured (panel first)."""
    before = start - WEEK
    ws = workspace
    stats_now = {s.member: s for s in model_stats(session, start, workspace=ws, until=end)}
    shadow_stats = {
        s.member: s
        for s in model_stats(session, start, workspace=ws, until=end, role=AnswerRole.SHADOW)
    }
    thumbs_now = thumbs_by_model(session, start, end, workspace=ws)
    thumbs_before = thumbs_by_model(session, before, start, workspace=ws)
    runs_now = eval_runs(session, start, end, workspace=ws)
    evals_now = {model: runs[-1].result for model, runs in runs_now.items()}
    evals_before = eval_results(session, before, start, workspace=ws)

    panel_names = list(dict.fromkeys([*panel, *sorted(stats_now), *sorted(thumbs_now)]))
    shadow_names = [
        m for m in dict.fromkeys([*shadow, *sorted(shadow_stats)]) if m not in panel_names
    ]
    # Models only benchmarked (e.g. removed from the panel, or candidates) come last.
    eval_only = [m for m in sorted(evals_now) if m not in panel_names and m not in shadow_names]

    weeks: list[ModelWeek] = []
    for role, names in (("panel", panel_names + eval_only), ("shadow", shadow_names)):
        source = stats_now if role == "panel" else shadow_stats
        for name in names:
            st = source.get(name)
            now = thumbs_now.get(name, Thumbs())
            was = thumbs_before.get(name, Thumbs())
            weeks.append(
                ModelWeek(
                    model=name,
                    role=role,
                    eval_now=evals_now.get(name),
                    eval_before=evals_before.get(name),
                    eval_earlier=tuple(runs_now.get(name, [])[:-1]),
                    thumbs_up=now.up,
                    thumbs_down=now.down,
                    thumbs_up_before=was.up,
                    thumbs_down_before=was.down,
                    answers=st.answers if st else 0,
                    latency_p50_ms=st.latency_p50_ms if st else None,
                    latency_p95_ms=st.latency_p95_ms if st else None,
                    mean_cost_usd=st.mean_cost_usd if st else None,
                )
            )
    return weeks


def history(
    session: Session, end: datetime, *, workspace: str, weeks: int, labels: Sequence[str]
) -> list[HistoryPoint]:
    """Per model, per week (oldest first): eval pass rate and 👍 rate for the chart.

    ``labels[i]`` names the week ending ``end - (weeks - 1 - i) * WEEK``.
    """
    if len(labels) != weeks:
        raise ValueError("one label per week")
    points: list[HistoryPoint] = []
    for i, label in enumerate(labels):
        week_end = end - (weeks - 1 - i) * WEEK
        week_start = week_end - WEEK
        evals_: dict[str, EvalResult] = eval_results(
            session, week_start, week_end, workspace=workspace
        )
        thumbs = thumbs_by_model(session, week_start, week_end, workspace=workspace)
        for model in sorted(set(evals_) | set(thumbs)):
            result = evals_.get(model)
            points.append(
                HistoryPoint(
                    week=label,
                    model=model,
                    pass_rate=result.passed / result.n if result and result.n else None,
                    thumbs_rate=thumbs[model].rate if model in thumbs else None,
                )
            )
    return points


def earlier_failure_modes(session: Session, start: datetime, *, workspace: str) -> dict[str, int]:
    """Failure modes seen in corrections and eval runs in the weeks before ``start``."""
    since = start - FAILURE_MODE_MEMORY
    seen = correction_failure_modes(session, since, start, workspace=workspace)
    earlier = eval_results(session, since, start, workspace=workspace, latest_only=False)
    for result in earlier.values():
        for mode, n in result.failure_modes.items():
            seen[mode] = seen.get(mode, 0) + n
    return seen


def gather(
    session: Session,
    *,
    workspace: str,
    period: str,
    start: datetime,
    end: datetime,
    timezone: str,
    panel: Sequence[str],
    shadow: Sequence[str],
    history_labels: Sequence[str],
    refit: RefitInfo | None = None,
) -> DigestData:
    """Everything ``workspace``'s digest for ``[start, end)`` needs, from its rows only,
    in one read-only session."""
    ws = workspace
    review, review_total = review_queue(session, workspace=ws)
    return DigestData(
        period=period,
        start=start,
        end=end,
        timezone=timezone,
        models=model_weeks(session, start, end, workspace=ws, panel=panel, shadow=shadow),
        questions=question_count(session, start, end, workspace=ws),
        votes=votes(session, start, end, workspace=ws),
        calibration=calibration_pairs(session, start, end, workspace=ws),
        refit=refit,
        failure_modes_before=earlier_failure_modes(session, start, workspace=ws),
        production_failure_modes=correction_failure_modes(session, start, end, workspace=ws),
        review=review,
        review_total=review_total,
        shadow=shadow_weeks(session, start, end, workspace=ws),
        missed=missed_jobs(session, start, end, workspace=ws),
        history=history(
            session, end, workspace=ws, weeks=len(history_labels), labels=history_labels
        ),
        history_weeks=tuple(history_labels),
    )
