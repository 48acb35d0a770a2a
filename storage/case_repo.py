"""Repository functions for eval cases: propose (or merge), review, edit, retire, rotate,
list, import, and the active cases + dataset version the benchmark uses.

Every function takes an open :class:`~sqlalchemy.orm.Session` (the caller owns the
transaction, see :meth:`storage.db.Database.session`) and returns
:class:`~evals.cases.schema.EvalCase` records, never ORM rows. The rules on versions,
rotation and duplicates live in :mod:`evals.cases.sets`.

Nothing unredacted is stored, by construction: a case's content comes in only as a
:class:`~evals.cases.redaction.RedactedCase` (:func:`propose_case`, :func:`add_cases`),
which only :mod:`evals.cases.redaction` can make, or as a reviewer's edit, which
:func:`edit_case` redacts before it is written. Every other function changes the status
of cases already stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from evals.cases import sets as rules
from evals.cases.assertions import Assertion
from evals.cases.redaction import RedactedCase, redacted
from evals.cases.schema import (
    CaseInput,
    CaseSet,
    CaseSource,
    CaseStatus,
    EvalCase,
    ObservedRun,
    Severity,
)
from evals.errors import InputError, StorageError
from evals.protocols import Embedder
from storage.tables.base import insert_for
from storage.tables.cases import LIVE_SQL, LIVE_STATUSES, CaseEventRow, CaseRow


class CaseNotFoundError(InputError):
    """No case has that id."""


class CaseStateError(InputError):
    """The action does not apply to the case in its current status."""


@dataclass(frozen=True)
class CaseEvent:
    case_id: str
    action: str
    actor: str | None
    detail: Mapping[str, Any]
    at: datetime


@dataclass(frozen=True)
class CasePage:
    cases: list[EvalCase]
    total: int
    offset: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.cases) < self.total


@dataclass(frozen=True)
class ProposeResult:
    """``case`` is the stored case; ``merged_into`` is set when the proposal was folded
    into an existing case (a repeat of the same run, or a near-duplicate question)."""

    case: EvalCase
    merged: bool
    similarity: float | None = None


def _now(now: datetime | None) -> datetime:
    value = now or datetime.now(UTC)
    if value.tzinfo is None:
        raise ValueError("naive datetime; use datetime.now(UTC)")
    return value


# --- row <-> record -----------------------------------------------------------------------


def _to_case(row: CaseRow) -> EvalCase:
    return EvalCase(
        id=row.id,
        input=CaseInput.model_validate(row.input),
        expected=row.expected,
        assertions=[Assertion.model_validate(a) for a in row.assertions or []],
        threshold=row.threshold,
        category=row.category,
        severity=Severity(row.severity),
        tags=list(row.tags or []),
        source=CaseSource(row.source),
        source_link=row.source_link,
        set=CaseSet(row.case_set),
        status=CaseStatus(row.status),
        previous_id=row.previous_id,
        observed=ObservedRun.model_validate(row.observed) if row.observed is not None else None,
        merged_count=row.merged_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _fill_row(row: CaseRow, case: EvalCase) -> None:
    data = case.model_dump(mode="json")
    if row.question != case.input.question:
        row.embedding = None  # the cached embedding belongs to the old question
        row.embedding_model = None
    row.case_set = case.set.value
    row.status = case.status.value
    row.question = case.input.question
    row.input = data["input"]
    row.expected = case.expected
    row.assertions = data["assertions"]
    row.threshold = case.threshold
    row.category = case.category
    row.severity = case.severity.value
    row.tags = list(case.tags)
    row.source = case.source.value
    row.source_link = case.source_link
    row.observed = data["observed"]
    row.previous_id = case.previous_id
    row.merged_count = case.merged_count
    row.created_at = case.created_at
    row.updated_at = case.updated_at


def _new_row(case: RedactedCase, workspace: str, source_run_id: int | None = None) -> CaseRow:
    row = CaseRow(id=case.id, workspace_id=workspace, question="", source_run_id=source_run_id)
    _fill_row(row, case.case)
    return row


def _event(
    session: Session,
    workspace: str,
    case_id: str,
    action: str,
    actor: str | None,
    at: datetime,
    **detail: Any,
) -> None:
    session.add(
        CaseEventRow(
            workspace_id=workspace,
            case_id=case_id,
            action=action,
            actor=actor,
            detail=detail,
            at=at,
        )
    )


def _owned(session: Session, case_id: str, workspace: str) -> CaseRow | None:
    """Case ``case_id`` when ``workspace`` owns it; another workspace's case is None,
    exactly as if it did not exist."""
    row = session.get(CaseRow, {"workspace_id": workspace, "id": case_id})
    return row if row is not None and row.workspace_id == workspace else None


def _row(session: Session, case_id: str, workspace: str) -> CaseRow:
    row = _owned(session, case_id, workspace)
    if row is None:
        raise CaseNotFoundError(f"no case with id {case_id!r}")
    return row


# --- reading ------------------------------------------------------------------------------


def get_case(session: Session, case_id: str, *, workspace: str) -> EvalCase | None:
    row = _owned(session, case_id, workspace)
    return _to_case(row) if row is not None else None


def require_case(session: Session, case_id: str, *, workspace: str) -> EvalCase:
    return _to_case(_row(session, case_id, workspace))


def list_cases(
    session: Session,
    *,
    workspace: str,
    status: CaseStatus | None = None,
    case_set: CaseSet | None = None,
    limit: int = 20,
    offset: int = 0,
) -> CasePage:
    """A page of ``workspace``'s cases, newest first (ties by id)."""
    if limit < 1 or offset < 0:
        raise InputError("limit must be at least 1 and offset at least 0")
    query = select(CaseRow).where(CaseRow.workspace_id == workspace)
    count = select(func.count()).select_from(CaseRow).where(CaseRow.workspace_id == workspace)
    if status is not None:
        query = query.where(CaseRow.status == status.value)
        count = count.where(CaseRow.status == status.value)
    if case_set is not None:
        query = query.where(CaseRow.case_set == case_set.value)
        count = count.where(CaseRow.case_set == case_set.value)
    rows = session.scalars(
        query.order_by(CaseRow.created_at.desc(), CaseRow.id.desc()).offset(offset).limit(limit)
    ).all()
    total = session.scalar(count) or 0
    return CasePage(cases=[_to_case(r) for r in rows], total=total, offset=offset, limit=limit)


def active_cases(
    session: Session,
    case_set: CaseSet | None = None,
    categories: Sequence[str] = (),
    tags: Sequence[str] = (),
    *,
    workspace: str,
) -> list[EvalCase]:
    """``workspace``'s active cases (of one set when given), sorted by id. ``categories``
    keeps cases in any of them; ``tags`` keeps cases carrying any of them."""
    query = select(CaseRow).where(
        CaseRow.workspace_id == workspace, CaseRow.status == CaseStatus.ACTIVE.value
    )
    if case_set is not None:
        query = query.where(CaseRow.case_set == case_set.value)
    if categories:
        query = query.where(CaseRow.category.in_(list(categories)))
    found = [_to_case(r) for r in session.scalars(query.order_by(CaseRow.id)).all()]
    if tags:
        wanted = set(tags)
        found = [c for c in found if wanted & set(c.tags)]
    return found


def dataset_version(session: Session, case_set: CaseSet | None = None, *, workspace: str) -> str:
    """SHA-256 of the canonical JSON of ``workspace``'s active cases of ``case_set`` (all
    sets when None); see :func:`evals.cases.sets.dataset_version`."""
    return rules.dataset_version(active_cases(session, case_set, workspace=workspace), case_set)


def case_events(session: Session, case_id: str, *, workspace: str) -> list[CaseEvent]:
    rows = session.scalars(
        select(CaseEventRow)
        .where(CaseEventRow.case_id == case_id, CaseEventRow.workspace_id == workspace)
        .order_by(CaseEventRow.at, CaseEventRow.id)
    ).all()
    return [CaseEvent(r.case_id, r.action, r.actor, dict(r.detail), r.at) for r in rows]


def source_run_id(session: Session, case_id: str, *, workspace: str) -> int | None:
    return _row(session, case_id, workspace).source_run_id


# --- proposing and merging ----------------------------------------------------------------


def _embedding(session: Session, row: CaseRow, embedder: Embedder) -> list[float]:
    if row.embedding is None or row.embedding_model != embedder.name:
        row.embedding = [float(x) for x in embedder.embed([row.question])[0]]
        row.embedding_model = embedder.name
    return row.embedding


def propose_case(
    session: Session,
    case: RedactedCase,
    embedder: Embedder,
    *,
    workspace: str,
    actor: str | None,
    source_run_id: int | None = None,
    threshold: float = rules.DEFAULT_DUPLICATE_THRESHOLD,
    now: datetime | None = None,
) -> ProposeResult:
    """Store ``case`` as a proposed case, or merge it into the case it repeats: a live
    case from the same run, or a live case (proposed or active) whose question is at
    least ``threshold`` similar. A merge counts the duplicate and keeps the union of
    tags; an expected answer fills one that was missing."""
    at = _now(now)
    proposal = case.case.model_copy(
        update={"status": CaseStatus.PROPOSED, "created_at": at, "updated_at": at}
    )
    same_run = _live_case_of_run(session, source_run_id, workspace)
    target, similarity = same_run, (1.0 if same_run is not None else None)
    if target is None:
        rows = session.scalars(
            select(CaseRow).where(
                CaseRow.workspace_id == workspace, CaseRow.status.in_(LIVE_STATUSES)
            )
        ).all()
        norm = rules.normalize_question(proposal.input.question)
        exact = [r for r in rows if rules.normalize_question(r.question) == norm]
        if exact:
            target, similarity = exact[0], 1.0
        elif rows:
            matrix = np.asarray([_embedding(session, r, embedder) for r in rows], np.float32)
            query = embedder.embed([proposal.input.question])[0]
            match = rules.nearest_duplicate(
                query, [r.id for r in rows], matrix, threshold=threshold
            )
            if match is not None:
                target = next(r for r in rows if r.id == match.case_id)
                similarity = match.similarity
    if target is None:
        row = CaseRow(
            id=proposal.id, workspace_id=workspace, question="", source_run_id=source_run_id
        )
        _fill_row(row, proposal)  # ``case``'s redacted content, as proposed now
        row.embedding = [float(x) for x in embedder.embed([proposal.input.question])[0]]
        row.embedding_model = embedder.name
        if _insert_new(session, row):
            _event(session, workspace, proposal.id, "proposed", actor, at, run_id=source_run_id)
            return ProposeResult(case=proposal, merged=False)
        # A concurrent proposal from the same run was stored first: join it.
        target = same_run = _live_case_of_run(session, source_run_id, workspace)
        similarity = 1.0
        if target is None:  # pragma: no cover - the database said it exists
            raise StorageError(f"case {proposal.id} conflicts with a case that is not there")
    merged = rules.merge_duplicate(_to_case(target), proposal, now=at, same_run=target is same_run)
    _fill_row(target, merged)
    _event(
        session,
        workspace,
        target.id,
        "merged",
        actor,
        at,
        similarity=similarity,
        source_link=proposal.source_link,
        run_id=source_run_id,
    )
    return ProposeResult(case=merged, merged=True, similarity=similarity)


def _live_case_of_run(
    session: Session, source_run_id: int | None, workspace: str
) -> CaseRow | None:
    """The live case proposed from panel run ``source_run_id`` (there is at most one)."""
    if source_run_id is None:
        return None
    return session.scalars(
        select(CaseRow)
        .where(
            CaseRow.workspace_id == workspace,
            CaseRow.source_run_id == source_run_id,
            CaseRow.status.in_(LIVE_STATUSES),
        )
        .order_by(CaseRow.created_at)
        .limit(1)
    ).first()


def _insert_new(session: Session, row: CaseRow) -> bool:
    """Insert a new case row; False (nothing inserted) when the row's run already has a
    live case. The unique index ``uq_cases_live_source_run`` decides, so of two
    proposals racing on one run (two processes, or two threads milliseconds apart)
    exactly one is inserted; on PostgreSQL the second waits for the first to commit."""
    if row.source_run_id is None:
        session.add(row)
        session.flush()
        return True
    values = {c.key: getattr(row, c.key) for c in CaseRow.__table__.columns}
    stmt = (
        insert_for(session, CaseRow)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["source_run_id"], index_where=text(LIVE_SQL))
        .returning(CaseRow.id)
    )
    return session.execute(stmt).first() is not None


# --- review -------------------------------------------------------------------------------


def approve_case(
    session: Session,
    case_id: str,
    case_set: CaseSet,
    *,
    workspace: str,
    actor: str | None,
    now: datetime | None = None,
) -> EvalCase:
    """A proposed case becomes active in ``case_set``."""
    at = _now(now)
    row = _proposed_row(session, case_id, "approved", workspace)
    case = _to_case(row).model_copy(
        update={"status": CaseStatus.ACTIVE, "set": case_set, "updated_at": at}
    )
    _fill_row(row, case)
    _event(session, workspace, case_id, "approved", actor, at, set=case_set.value)
    return case


def _proposed_row(session: Session, case_id: str, verb: str, workspace: str) -> CaseRow:
    row = _row(session, case_id, workspace)
    if row.status != CaseStatus.PROPOSED.value:
        raise CaseStateError(f"case {case_id} is {row.status}; only proposed cases can be {verb}")
    return row


def reject_case(
    session: Session,
    case_id: str,
    *,
    workspace: str,
    actor: str | None,
    reason: str | None = None,
    now: datetime | None = None,
) -> EvalCase:
    at = _now(now)
    row = _proposed_row(session, case_id, "rejected", workspace)
    case = _to_case(row).model_copy(update={"status": CaseStatus.REJECTED, "updated_at": at})
    _fill_row(row, case)
    _event(session, workspace, case_id, "rejected", actor, at, reason=reason)
    return case


def retire_case(
    session: Session,
    case_id: str,
    *,
    workspace: str,
    actor: str | None,
    reason: str | None = None,
    now: datetime | None = None,
) -> EvalCase:
    at = _now(now)
    row = _row(session, case_id, workspace)
    if row.status == CaseStatus.RETIRED.value:
        raise CaseStateError(f"case {case_id} is already retired")
    case = _to_case(row).model_copy(update={"status": CaseStatus.RETIRED, "updated_at": at})
    _fill_row(row, case)
    _event(session, workspace, case_id, "retired", actor, at, reason=reason)
    return case


def edit_case(
    session: Session,
    case_id: str,
    changes: Mapping[str, Any],
    *,
    workspace: str,
    actor: str | None,
    now: datetime | None = None,
    redact_patterns: Mapping[str, str] | None = None,
) -> rules.EditResult:
    """Apply a reviewer's changes. An active golden case gets a new version (new id,
    ``previous_id`` kept, old one retired); other cases change in place.

    Every edit is redacted before it is stored, whoever makes it (the CLI, the Slack
    modal): the built-in detectors plus ``redact_patterns`` (``cases.redact_patterns``).
    """
    at = _now(now)
    row = _row(session, case_id, workspace)
    before = _to_case(row)
    result = rules.apply_edit(before, changes, now=at)
    if result.case is before:
        return result
    edited = redacted(result.case, redact_patterns)
    result = replace(result, case=edited.case)
    changed = sorted(changes)
    if result.retired is not None:
        _fill_row(row, result.retired)
        new_row = _new_row(edited, workspace, row.source_run_id)
        session.add(new_row)
        session.flush()
        _event(
            session,
            workspace,
            case_id,
            "retired",
            actor,
            at,
            reason="edited",
            new_version=new_row.id,
        )
        _event(
            session,
            workspace,
            new_row.id,
            "versioned",
            actor,
            at,
            previous_id=case_id,
            fields=changed,
        )
    else:
        _fill_row(row, edited.case)
        _event(session, workspace, case_id, "edited", actor, at, fields=changed)
    return result


def rotate_cases(
    session: Session,
    policy: rules.RotationPolicy,
    *,
    workspace: str,
    actor: str | None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> list[EvalCase]:
    """Retire the rotating cases the policy says are stale; returns them (as retired,
    or as they are when ``dry_run``)."""
    at = _now(now)
    stale = rules.cases_to_rotate(
        active_cases(session, CaseSet.ROTATING, workspace=workspace), policy, now=at
    )
    if dry_run:
        return stale
    out = []
    for case in stale:
        retired = case.model_copy(update={"status": CaseStatus.RETIRED, "updated_at": at})
        _fill_row(_row(session, case.id, workspace), retired)
        _event(session, workspace, case.id, "rotated", actor, at, policy=policy.model_dump())
        out.append(retired)
    return out


# --- adding and importing -----------------------------------------------------------------


def add_cases(
    session: Session,
    cases: Iterable[RedactedCase],
    *,
    workspace: str,
    actor: str | None,
    action: str = "imported",
    skip_existing: bool = False,
    now: datetime | None = None,
) -> tuple[list[EvalCase], list[str]]:
    """Store new cases, all or nothing. Ids already in the database are an error listing
    every one (or skipped with ``skip_existing``). Returns (added, skipped ids). A case
    imported with ``--no-redact`` says so in its event (``redaction: waived``)."""
    at = _now(now)
    cases = list(cases)
    ids = [c.id for c in cases]
    existing = set(
        session.scalars(
            select(CaseRow.id).where(CaseRow.workspace_id == workspace, CaseRow.id.in_(ids))
        ).all()
    )
    if existing and not skip_existing:
        raise InputError(
            f"{len(existing)} case id(s) already exist: {', '.join(sorted(existing))}; "
            "nothing imported (use --skip-existing to import the others)"
        )
    added = [case for case in cases if case.id not in existing]
    for case in added:
        session.add(_new_row(case, workspace))
    session.flush()
    for case in added:
        detail = {"redaction": "waived"} if case.waived else {}
        _event(session, workspace, case.id, action, actor, at, **detail)
    return [case.case for case in added], sorted(existing)


def all_cases(
    session: Session,
    *,
    workspace: str,
    status: CaseStatus | None = None,
    case_set: CaseSet | None = None,
) -> list[EvalCase]:
    """Every case of ``workspace`` matching the filters, sorted by id (for export)."""
    query = select(CaseRow).where(CaseRow.workspace_id == workspace)
    if status is not None:
        query = query.where(CaseRow.status == status.value)
    if case_set is not None:
        query = query.where(CaseRow.case_set == case_set.value)
    return [_to_case(r) for r in session.scalars(query.order_by(CaseRow.id)).all()]
