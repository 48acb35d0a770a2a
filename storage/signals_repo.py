"""Production signals: 👍/👎/🚩, corrections, best-answer votes, delivery idempotency.

The uniqueness rules live in the database (unique keys + ``INSERT ... ON CONFLICT``),
so they hold across processes on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from evals.cases.schema import FailureMode, Severity
from evals.errors import InputError
from storage.records import (
    AnswerRole,
    BestAnswerVote,
    CorrectionRecord,
    CorrectionSource,
    SignalKind,
    SignalRecord,
    SignalSource,
    VoteOutcome,
)
from storage.tables.base import insert_for
from storage.tables.panel_runs import (
    AnswerRow,
    CorrectionRow,
    DeliveryRow,
    PanelRunRow,
    SignalRow,
    VoteRow,
)


def _now(at: datetime | None) -> datetime:
    value = at or datetime.now(UTC)
    if value.tzinfo is None:
        raise ValueError("naive datetime; use timezone-aware UTC")
    return value


# -- idempotency -----------------------------------------------------------------------


def claim_delivery(
    session: Session, key: str, kind: str, *, workspace: str, at: datetime | None = None
) -> bool:
    """True the first time ``key`` is claimed, False for every later (or concurrent) claim.

    Commit promptly (claim in its own ``Database.session()``): on PostgreSQL a second
    claimant waits for the first transaction and then gets False; on SQLite writers are
    serialised by the database lock (busy timeout), with the same result.
    """
    stmt = (
        insert_for(session, DeliveryRow)
        .values(key=key, workspace_id=workspace, kind=kind, created_at=_now(at))
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(DeliveryRow.key)
    )
    return session.execute(stmt).first() is not None


def count_deliveries(session: Session, kind: str, since: datetime) -> int:
    """How many deliveries of ``kind`` were claimed since ``since`` (rate limits).

    Across workspaces on purpose: a kind names one person (``ask:U…``), and a person's
    rate limit is theirs wherever they ask; only a count comes back."""
    found = session.scalar(
        select(func.count())
        .select_from(DeliveryRow)
        .where(DeliveryRow.kind == kind, DeliveryRow.created_at >= _now(since))
    )
    return int(found or 0)


def prune_deliveries(session: Session, before: datetime) -> int:
    """Forget delivery keys older than ``before`` (Slack retries within minutes); count."""
    result = session.execute(
        delete(DeliveryRow).where(DeliveryRow.created_at < _now(before)).returning(DeliveryRow.key)
    )
    return len(result.all())


# -- signals ---------------------------------------------------------------------------


def _run_owned(session: Session, run_id: int, workspace: str) -> None:
    """Refuse to attach a row to a run another workspace owns (a run that does not exist
    is refused by its foreign key, as before)."""
    owner = session.scalar(select(PanelRunRow.workspace_id).where(PanelRunRow.id == run_id))
    if owner is not None and owner != workspace:
        raise InputError("That question is not one of this workspace's.")


def record_signal(
    session: Session,
    *,
    workspace: str,
    run_id: int,
    user_id: str,
    kind: SignalKind,
    source: SignalSource,
    answer_id: int | None = None,
    at: datetime | None = None,
) -> bool:
    """Record a 👍/👎/🚩 by ``user_id`` on a run (``answer_id`` None) or on one answer.

    Each person counts once per message and signal: True when the signal became active
    now (new, or re-added after a retraction; its time is then the new time), False when
    it was already active.
    """
    when = _now(at)
    _run_owned(session, run_id, workspace)
    values = {
        "workspace_id": workspace,
        "run_id": run_id,
        "answer_id": answer_id,
        "answer_key": answer_id or 0,
        "user_id": user_id,
        "kind": SignalKind(kind).value,
        "source": SignalSource(source).value,
        "created_at": when,
        "retracted_at": None,
    }
    insert = insert_for(session, SignalRow).values(**values)
    stmt = insert.on_conflict_do_update(
        index_elements=["run_id", "answer_key", "user_id", "kind"],
        set_={"retracted_at": None, "created_at": when, "source": values["source"]},
        where=SignalRow.__table__.c.retracted_at.is_not(None),
    ).returning(SignalRow.id)
    return session.execute(stmt).first() is not None


def retract_signal(
    session: Session,
    *,
    workspace: str,
    run_id: int,
    user_id: str,
    kind: SignalKind,
    answer_id: int | None = None,
    at: datetime | None = None,
) -> bool:
    """Retract an active signal (the reaction was removed); False when none was active."""
    result = session.execute(
        update(SignalRow)
        .where(
            SignalRow.workspace_id == workspace,
            SignalRow.run_id == run_id,
            SignalRow.answer_key == (answer_id or 0),
            SignalRow.user_id == user_id,
            SignalRow.kind == SignalKind(kind).value,
            SignalRow.retracted_at.is_(None),
        )
        .values(retracted_at=_now(at))
        .returning(SignalRow.id)
    )
    return result.first() is not None


def _signal_record(row: SignalRow) -> SignalRecord:
    return SignalRecord(
        id=row.id,
        run_id=row.run_id,
        answer_id=row.answer_id,
        user_id=row.user_id,
        kind=SignalKind(row.kind),
        source=SignalSource(row.source),
        created_at=row.created_at,
        retracted_at=row.retracted_at,
    )


def signals_for_run(
    session: Session, run_id: int, *, workspace: str, include_retracted: bool = False
) -> list[SignalRecord]:
    query = (
        select(SignalRow)
        .where(SignalRow.run_id == run_id, SignalRow.workspace_id == workspace)
        .order_by(SignalRow.id)
    )
    if not include_retracted:
        query = query.where(SignalRow.retracted_at.is_(None))
    return [_signal_record(r) for r in session.scalars(query)]


# -- corrections -----------------------------------------------------------------------


def record_correction(
    session: Session,
    *,
    workspace: str,
    run_id: int,
    user_id: str,
    correct_answer: str,
    failure_mode: FailureMode,
    severity: Severity,
    source: CorrectionSource,
    answer_id: int | None = None,
    at: datetime | None = None,
) -> CorrectionRecord:
    """Store what the right answer was and what went wrong."""
    text = correct_answer.strip()
    if not text:
        raise InputError("The correct answer is empty; please write what the answer should be.")
    _run_owned(session, run_id, workspace)
    row = CorrectionRow(
        workspace_id=workspace,
        run_id=run_id,
        answer_id=answer_id,
        user_id=user_id,
        correct_answer=text,
        failure_mode=FailureMode(failure_mode).value,
        severity=Severity(severity).value,
        source=CorrectionSource(source).value,
        created_at=_now(at),
    )
    session.add(row)
    session.flush()
    return _correction(row)


def corrections_for_run(session: Session, run_id: int, *, workspace: str) -> list[CorrectionRecord]:
    rows = session.scalars(
        select(CorrectionRow)
        .where(CorrectionRow.run_id == run_id, CorrectionRow.workspace_id == workspace)
        .order_by(CorrectionRow.id)
    )
    return [_correction(r) for r in rows]


def _correction(row: CorrectionRow) -> CorrectionRecord:
    return CorrectionRecord(
        id=row.id,
        run_id=row.run_id,
        answer_id=row.answer_id,
        user_id=row.user_id,
        correct_answer=row.correct_answer,
        failure_mode=FailureMode(row.failure_mode),
        severity=Severity(row.severity),
        source=CorrectionSource(row.source),
        created_at=row.created_at,
    )


# -- best-answer votes -----------------------------------------------------------------


def record_vote(
    session: Session,
    *,
    workspace: str,
    run_id: int,
    answer_id: int,
    user_id: str,
    at: datetime | None = None,
) -> VoteOutcome:
    """A person's best-answer pick for a run; a new pick moves their earlier vote."""
    answer_run = session.scalar(
        select(AnswerRow.run_id).where(
            AnswerRow.id == answer_id, AnswerRow.workspace_id == workspace
        )
    )
    if answer_run != run_id:
        raise InputError("That answer does not belong to this question.")
    previous = session.scalar(
        select(VoteRow.answer_id).where(
            VoteRow.workspace_id == workspace, VoteRow.run_id == run_id, VoteRow.user_id == user_id
        )
    )
    when = _now(at)
    insert = insert_for(session, VoteRow).values(
        workspace_id=workspace, run_id=run_id, answer_id=answer_id, user_id=user_id, created_at=when
    )
    stmt = insert.on_conflict_do_update(
        index_elements=["run_id", "user_id"],
        set_={"answer_id": answer_id, "created_at": when},
    )
    session.execute(stmt)
    return VoteOutcome(
        run_id=run_id, answer_id=answer_id, user_id=user_id, previous_answer_id=previous
    )


def best_answer_votes(session: Session, since: datetime, *, workspace: str) -> list[BestAnswerVote]:
    """``workspace``'s votes cast since ``since`` with the members that were on offer
    (answered, panel)."""
    rows = session.execute(
        select(VoteRow.run_id, VoteRow.user_id, VoteRow.created_at, AnswerRow.member)
        .join(AnswerRow, AnswerRow.id == VoteRow.answer_id)
        .where(
            VoteRow.workspace_id == workspace,
            AnswerRow.workspace_id == workspace,
            VoteRow.created_at >= _now(since),
        )
        .order_by(VoteRow.created_at, VoteRow.id)
    ).all()
    run_ids = {r.run_id for r in rows}
    candidates: dict[int, list[str]] = defaultdict(list)
    if run_ids:
        for run_id, member in session.execute(
            select(AnswerRow.run_id, AnswerRow.member)
            .where(
                AnswerRow.workspace_id == workspace,
                AnswerRow.run_id.in_(run_ids),
                AnswerRow.role == AnswerRole.PANEL.value,
                AnswerRow.error_kind.is_(None),
            )
            .order_by(AnswerRow.id)
        ):
            candidates[run_id].append(member)
    return [
        BestAnswerVote(
            run_id=r.run_id,
            user_id=r.user_id,
            chosen=r.member,
            candidates=tuple(candidates[r.run_id]),
            created_at=r.created_at,
        )
        for r in rows
    ]
