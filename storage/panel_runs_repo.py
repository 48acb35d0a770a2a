"""Panel runs and their answers: write one run in one transaction, read it back, count.

Every function takes a :class:`sqlalchemy.orm.Session` (from ``Database.session()``,
which owns the transaction) and returns records from :mod:`storage.records`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from evals.errors import StorageError
from evals.records import Consensus, ConsensusStatus, ErrorKind, ModelAnswer, PanelRun, SentPrompt
from storage.records import (
    AnswerRecord,
    AnswerRole,
    MessageTarget,
    ModelStats,
    RunOrigin,
    StoredPanelRun,
)
from storage.tables.panel_runs import AnswerRow, PanelRunRow


class DuplicateDeliveryError(StorageError):
    """A run with this delivery key is already stored (a retried Slack delivery)."""


def _require_utc(value: datetime, name: str) -> None:
    if value.tzinfo is None:
        raise ValueError(f"{name} is a naive datetime; use timezone-aware UTC")


def _answer_row(
    answer: ModelAnswer,
    *,
    workspace: str,
    role: AnswerRole,
    agreement: float | None,
    created_at: datetime,
) -> AnswerRow:
    return AnswerRow(
        workspace_id=workspace,
        member=answer.member,
        model=answer.model,
        role=role.value,
        text=answer.text,
        resolved_model=answer.resolved_model,
        latency_ms=answer.latency_ms,
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        cost_usd=answer.cost_usd,
        finish_reason=answer.finish_reason,
        error_kind=answer.error.value if answer.error is not None else None,
        error_detail=answer.error_detail,
        agreement=agreement,
        created_at=created_at,
    )


def save_panel_run(
    session: Session,
    run: PanelRun,
    consensus: Consensus,
    *,
    workspace: str,
    origin: RunOrigin,
    requester: str,
    config_hash: str,
    channel_id: str | None = None,
    thread_ts: str | None = None,
    team_id: str | None = None,
    message_ts: str | None = None,
    delivery_key: str | None = None,
    shadow_answers: Sequence[ModelAnswer] = (),
    shadow_agreement: Mapping[str, float] | None = None,
) -> int:
    """Store a run, its consensus and every answer (with its agreement) as ``workspace``'s;
    return the run id.

    Everything is written in the caller's transaction: if any part fails nothing is
    committed. ``created_at`` is when the question was asked (``run.started_at``).
    Raises :class:`DuplicateDeliveryError` when ``delivery_key`` was already stored.
    """
    _require_utc(run.started_at, "run.started_at")
    _require_utc(run.finished_at, "run.finished_at")
    row = PanelRunRow(
        workspace_id=workspace,
        created_at=run.started_at,
        finished_at=run.finished_at,
        question=run.question,
        origin=RunOrigin(origin).value,
        requester=requester,
        team_id=team_id,
        channel_id=channel_id,
        thread_ts=thread_ts,
        message_ts=message_ts,
        config_hash=config_hash,
        quorum=run.quorum,
        status=consensus.status.value,
        consensus_member=consensus.model,
        consensus_text=consensus.text,
        confidence=float(consensus.confidence),
        raw_confidence=float(consensus.raw_confidence),
        calibrator_id=consensus.calibrator,
        reason=consensus.reason,
        clusters=[list(c) for c in consensus.clusters],
        features={k: float(v) for k, v in consensus.features.items()},
        latency_ms=run.latency_ms,
        cost_usd=run.cost_usd,
        delivery_key=delivery_key,
        prompt=run.prompt.to_json() if run.prompt is not None else None,
    )
    row_answers = [
        _answer_row(
            a,
            workspace=workspace,
            role=AnswerRole.PANEL,
            agreement=consensus.agreement.get(a.member),
            created_at=run.finished_at,
        )
        for a in run.answers
    ]
    shadow_agreement = shadow_agreement or {}
    row_answers += [
        _answer_row(
            a,
            workspace=workspace,
            role=AnswerRole.SHADOW,
            agreement=shadow_agreement.get(a.member),
            created_at=run.finished_at,
        )
        for a in shadow_answers
    ]
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        if delivery_key is not None:
            raise DuplicateDeliveryError(
                f"a run for delivery {delivery_key!r} is already stored"
            ) from exc
        raise
    for answer in row_answers:
        answer.run_id = row.id
    session.add_all(row_answers)
    session.flush()
    return row.id


def add_shadow_answers(
    session: Session,
    run_id: int,
    answers: Sequence[ModelAnswer],
    agreement: Mapping[str, float],
    *,
    workspace: str,
    at: datetime | None = None,
) -> list[int]:
    """Store shadow candidates' answers for a run (after the user got theirs); their ids."""
    created = at or datetime.now(UTC)
    _require_utc(created, "at")
    if _run_row(session, run_id, workspace=workspace) is None:
        raise StorageError(f"no panel run {run_id} to attach shadow answers to")
    rows = [
        _answer_row(
            a,
            workspace=workspace,
            role=AnswerRole.SHADOW,
            agreement=agreement.get(a.member),
            created_at=created,
        )
        for a in answers
    ]
    for r in rows:
        r.run_id = run_id
    session.add_all(rows)
    session.flush()
    return [r.id for r in rows]


def _answer_record(row: AnswerRow) -> AnswerRecord:
    return AnswerRecord(
        id=row.id,
        run_id=row.run_id,
        member=row.member,
        model=row.model,
        role=AnswerRole(row.role),
        text=row.text,
        resolved_model=row.resolved_model,
        latency_ms=row.latency_ms,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        cost_usd=row.cost_usd,
        finish_reason=row.finish_reason,
        error_kind=ErrorKind(row.error_kind) if row.error_kind is not None else None,
        error_detail=row.error_detail,
        agreement=row.agreement,
        message_ts=row.message_ts,
        created_at=row.created_at,
    )


def _stored_run(row: PanelRunRow, answers: Iterable[AnswerRow]) -> StoredPanelRun:
    ordered = sorted(answers, key=lambda a: (a.role != AnswerRole.PANEL.value, a.id))
    return StoredPanelRun(
        id=row.id,
        created_at=row.created_at,
        finished_at=row.finished_at,
        question=row.question,
        origin=RunOrigin(row.origin),
        requester=row.requester,
        team_id=row.team_id,
        channel_id=row.channel_id,
        thread_ts=row.thread_ts,
        message_ts=row.message_ts,
        config_hash=row.config_hash,
        quorum=row.quorum,
        status=ConsensusStatus(row.status),
        consensus_member=row.consensus_member,
        consensus_text=row.consensus_text,
        confidence=row.confidence,
        raw_confidence=row.raw_confidence,
        calibrator_id=row.calibrator_id,
        reason=row.reason,
        clusters=tuple(tuple(c) for c in row.clusters),
        features=dict(row.features),
        latency_ms=row.latency_ms,
        cost_usd=row.cost_usd,
        delivery_key=row.delivery_key,
        answers=tuple(_answer_record(a) for a in ordered),
        prompt=SentPrompt.from_json(row.prompt) if row.prompt is not None else None,
    )


def _run_row(session: Session, run_id: int, *, workspace: str) -> PanelRunRow | None:
    """Run ``run_id`` when ``workspace`` owns it (another workspace's run: None)."""
    row = session.get(PanelRunRow, run_id)
    return row if row is not None and row.workspace_id == workspace else None


def run_workspace(session: Session, run_id: int) -> str | None:
    """Which workspace owns run ``run_id`` (None: no such run). Only for attributing a
    write that predates workspaces (an old spool line) to its run's owner."""
    return session.scalar(select(PanelRunRow.workspace_id).where(PanelRunRow.id == run_id))


def get_run(session: Session, run_id: int, *, workspace: str) -> StoredPanelRun | None:
    """Run ``run_id`` with its answers, when ``workspace`` owns it."""
    row = _run_row(session, run_id, workspace=workspace)
    if row is None:
        return None
    answers = session.scalars(
        select(AnswerRow).where(AnswerRow.run_id == run_id, AnswerRow.workspace_id == workspace)
    ).all()
    return _stored_run(row, answers)


@dataclass(frozen=True)
class AskedRun:
    """A question someone asked, as their App Home lists it."""

    id: int
    question: str
    created_at: datetime
    status: ConsensusStatus
    confidence: float
    channel_id: str | None
    message_ts: str | None


def runs_asked_by(
    session: Session, requester: str, *, workspace: str, limit: int = 5
) -> list[AskedRun]:
    """``requester``'s latest questions (any origin), newest first."""
    rows = session.execute(
        select(
            PanelRunRow.id,
            PanelRunRow.question,
            PanelRunRow.created_at,
            PanelRunRow.status,
            PanelRunRow.confidence,
            PanelRunRow.channel_id,
            PanelRunRow.message_ts,
        )
        .where(PanelRunRow.workspace_id == workspace, PanelRunRow.requester == requester)
        .order_by(PanelRunRow.created_at.desc(), PanelRunRow.id.desc())
        .limit(limit)
    ).all()
    return [
        AskedRun(
            id=r.id,
            question=r.question,
            created_at=r.created_at,
            status=ConsensusStatus(r.status),
            confidence=r.confidence,
            channel_id=r.channel_id,
            message_ts=r.message_ts,
        )
        for r in rows
    ]


def get_run_by_delivery(
    session: Session, delivery_key: str, *, workspace: str
) -> StoredPanelRun | None:
    run_id = session.scalar(
        select(PanelRunRow.id).where(
            PanelRunRow.delivery_key == delivery_key, PanelRunRow.workspace_id == workspace
        )
    )
    return None if run_id is None else get_run(session, run_id, workspace=workspace)


def get_run_by_message(
    session: Session, channel_id: str, ts: str, *, workspace: str
) -> MessageTarget | None:
    """The run behind a Slack message of ``workspace``: its result message, or one
    answer's thread reply. A Slack Connect channel has one id in both workspaces, so the
    workspace is part of the key."""
    run_id = session.scalar(
        select(PanelRunRow.id).where(
            PanelRunRow.workspace_id == workspace,
            PanelRunRow.channel_id == channel_id,
            PanelRunRow.message_ts == ts,
        )
    )
    if run_id is not None:
        run = get_run(session, run_id, workspace=workspace)
        return None if run is None else MessageTarget(run=run, answer=None)
    found = session.execute(
        select(AnswerRow.id, AnswerRow.run_id)
        .join(PanelRunRow, PanelRunRow.id == AnswerRow.run_id)
        .where(
            PanelRunRow.workspace_id == workspace,
            AnswerRow.workspace_id == workspace,
            PanelRunRow.channel_id == channel_id,
            AnswerRow.message_ts == ts,
        )
    ).first()
    if found is None:
        return None
    answer_id, answer_run_id = found
    run = get_run(session, answer_run_id, workspace=workspace)
    if run is None:
        return None
    answer = next(a for a in run.answers if a.id == answer_id)
    return MessageTarget(run=run, answer=answer)


def set_run_message(
    session: Session, run_id: int, channel_id: str, ts: str, *, workspace: str
) -> None:
    """Remember the Slack result message (channel and ts) of a run."""
    result = session.execute(
        update(PanelRunRow)
        .where(PanelRunRow.id == run_id, PanelRunRow.workspace_id == workspace)
        .values(channel_id=channel_id, message_ts=ts)
        .returning(PanelRunRow.id)
    )
    if result.first() is None:
        raise StorageError(f"no panel run {run_id} to attach a message to")


def set_answer_message(session: Session, answer_id: int, ts: str, *, workspace: str) -> None:
    """Remember the thread reply (ts) that shows one answer."""
    result = session.execute(
        update(AnswerRow)
        .where(AnswerRow.id == answer_id, AnswerRow.workspace_id == workspace)
        .values(message_ts=ts)
        .returning(AnswerRow.id)
    )
    if result.first() is None:
        raise StorageError(f"no answer {answer_id} to attach a message to")


def cost_since(session: Session, since: datetime, *, workspace: str | None) -> float:
    """USD spent on stored answers (panel and shadow) since ``since``; 0.0 if none.

    ``workspace`` None: every workspace's (the deployment's spending limit is one
    budget); otherwise that workspace's alone."""
    _require_utc(since, "since")
    query = select(func.coalesce(func.sum(AnswerRow.cost_usd), 0.0)).where(
        AnswerRow.created_at >= since
    )
    if workspace is not None:
        query = query.where(AnswerRow.workspace_id == workspace)
    total = session.scalar(query)
    return float(total or 0.0)


def model_stats(
    session: Session,
    since: datetime,
    *,
    workspace: str,
    role: AnswerRole = AnswerRole.PANEL,
    until: datetime | None = None,
) -> list[ModelStats]:
    """Per member: answers, errors, latency p50/p95 (successful answers), mean cost.

    Sorted by member name. ``model`` is the member's most recent litellm model string.
    """
    _require_utc(since, "since")
    query = (
        select(
            AnswerRow.member,
            AnswerRow.model,
            AnswerRow.latency_ms,
            AnswerRow.cost_usd,
            AnswerRow.error_kind,
        )
        .where(
            AnswerRow.workspace_id == workspace,
            AnswerRow.created_at >= since,
            AnswerRow.role == AnswerRole(role).value,
        )
        .order_by(AnswerRow.created_at, AnswerRow.id)
    )
    if until is not None:
        _require_utc(until, "until")
        query = query.where(AnswerRow.created_at < until)
    latencies: dict[str, list[int]] = defaultdict(list)
    costs: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    errors: dict[str, int] = defaultdict(int)
    models: dict[str, str] = {}
    for member, model, latency, cost, error in session.execute(query):
        counts[member] += 1
        models[member] = model
        if error is None:
            latencies[member].append(latency)
        else:
            errors[member] += 1
        if cost is not None:
            costs[member].append(cost)
    stats = []
    for member in sorted(counts):
        lat = np.asarray(latencies[member], dtype=float)
        spent = costs[member]
        stats.append(
            ModelStats(
                member=member,
                model=models[member],
                answers=counts[member],
                errors=errors[member],
                error_rate=errors[member] / counts[member],
                latency_p50_ms=float(np.percentile(lat, 50)) if lat.size else None,
                latency_p95_ms=float(np.percentile(lat, 95)) if lat.size else None,
                mean_cost_usd=float(np.mean(spent)) if spent else None,
                total_cost_usd=float(sum(spent)),
            )
        )
    return stats
