"""Workspaces: which ones hold data, claiming legacy rows, per-workspace channels, and
deleting everything one workspace owns.

Every table that holds a workspace's data has a ``workspace_id`` column (revision
``0011_workspaces``); :data:`WORKSPACE_TABLES` lists them, children before parents, so
a delete never trips a foreign key and a claim moves a run with all its rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session

from evals.errors import InputError
from storage.tables.base import UNASSIGNED, insert_for
from storage.tables.cases import CaseEventRow, CaseRow
from storage.tables.eval_runs import EvalResultRow, EvalRunRow
from storage.tables.jobs import CalibratorRow, JobPeriodRow
from storage.tables.panel_runs import (
    AnswerRow,
    CorrectionRow,
    DeliveryRow,
    PanelRunRow,
    SignalRow,
    VoteRow,
)
from storage.tables.workspaces import WorkspaceRow

#: Every workspace-owned table, children first (the order deletes run in).
WORKSPACE_TABLES: tuple[Table, ...] = tuple(
    row.__table__  # type: ignore[misc]
    for row in (
        SignalRow,
        CorrectionRow,
        VoteRow,
        CaseEventRow,
        CaseRow,
        AnswerRow,
        PanelRunRow,
        EvalResultRow,
        EvalRunRow,
        JobPeriodRow,
        CalibratorRow,
        DeliveryRow,
    )
)


@dataclass(frozen=True)
class WorkspaceSettings:
    """What a workspace chose in Slack; None means quorum.yaml's default."""

    id: str
    enterprise_id: str | None
    digest_channel: str | None
    review_channel: str | None


def _now(at: datetime | None) -> datetime:
    value = at or datetime.now(UTC)
    if value.tzinfo is None:
        raise ValueError("naive datetime; use datetime.now(UTC)")
    return value


_WORKSPACE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _require_id(workspace_id: str) -> str:
    if not _WORKSPACE_ID.fullmatch(workspace_id):
        raise InputError(
            f"{workspace_id!r} is not a workspace id; give a Slack team id such as T0123ABCD"
        )
    return workspace_id


def workspaces_with_data(session: Session) -> list[str]:
    """Every workspace id some row belongs to (``""``, unassigned, included), sorted."""
    found: set[str] = set()
    for table in (PanelRunRow, CaseRow, EvalRunRow, JobPeriodRow):
        found.update(session.scalars(select(table.workspace_id).distinct()))
    found.update(session.scalars(select(WorkspaceRow.id)))
    return sorted(found)


def claim_unassigned(session: Session, workspace_id: str) -> dict[str, int]:
    """Give every unassigned row (stored before workspaces) to ``workspace_id``.

    Idempotent (a second claim finds nothing) and all-or-nothing in the caller's
    transaction. Returns rows claimed per table (tables with none left out).
    """
    _require_id(workspace_id)
    claimed: dict[str, int] = {}
    for table in WORKSPACE_TABLES:
        result = session.execute(
            update(table)
            .where(table.c.workspace_id == UNASSIGNED)
            .values(workspace_id=workspace_id)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            claimed[table.name] = int(result.rowcount)  # type: ignore[attr-defined]
    ensure_workspace(session, workspace_id)
    return claimed


def delete_workspace_data(session: Session, workspace_id: str) -> dict[str, int]:
    """Delete every row ``workspace_id`` owns (and its ``workspaces`` row) in the caller's
    transaction; rows deleted per table. Other workspaces' rows are not touched."""
    if workspace_id == UNASSIGNED:
        raise InputError("refusing to delete the unassigned rows; claim them first")
    deleted: dict[str, int] = {}
    for table in WORKSPACE_TABLES:
        result = session.execute(delete(table).where(table.c.workspace_id == workspace_id))
        deleted[table.name] = int(result.rowcount)  # type: ignore[attr-defined]
    result = session.execute(delete(WorkspaceRow).where(WorkspaceRow.id == workspace_id))
    deleted["workspaces"] = int(result.rowcount)  # type: ignore[attr-defined]
    return deleted


def ensure_workspace(
    session: Session,
    workspace_id: str,
    *,
    enterprise_id: str | None = None,
    at: datetime | None = None,
) -> None:
    """Make sure ``workspace_id`` has its ``workspaces`` row (safe when two processes, or
    the start-up claim and a scheduled job, make it at once)."""
    when = _now(at)
    session.execute(
        insert_for(session, WorkspaceRow)
        .values(
            id=workspace_id,
            enterprise_id=enterprise_id,
            digest_channel=None,
            review_channel=None,
            created_at=when,
            updated_at=when,
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    if enterprise_id is not None:  # a row made before its org was known learns it
        session.execute(
            update(WorkspaceRow)
            .where(WorkspaceRow.id == workspace_id, WorkspaceRow.enterprise_id.is_(None))
            .values(enterprise_id=enterprise_id, updated_at=when)
        )


def org_workspaces(session: Session, enterprise_id: str) -> list[str]:
    """The workspaces of an Enterprise Grid org that Quorum has seen a request from
    (their ``workspaces`` rows name the org), sorted; the org's own id is not one."""
    statement = select(WorkspaceRow.id).where(
        WorkspaceRow.enterprise_id == enterprise_id, WorkspaceRow.id != enterprise_id
    )
    return sorted(session.scalars(statement))


def workspace_settings(session: Session, workspace_id: str) -> WorkspaceSettings:
    row = session.get(WorkspaceRow, workspace_id)
    if row is None:
        return WorkspaceSettings(workspace_id, None, None, None)
    return WorkspaceSettings(row.id, row.enterprise_id, row.digest_channel, row.review_channel)


def set_channel(
    session: Session,
    workspace_id: str,
    *,
    purpose: str,
    channel_id: str,
    enterprise_id: str | None = None,
    at: datetime | None = None,
) -> None:
    """Post ``purpose`` (``digest`` or ``review``) of ``workspace_id`` to ``channel_id``."""
    if purpose not in ("digest", "review"):
        raise InputError(f"unknown channel purpose {purpose!r}; use digest or review")
    ensure_workspace(session, workspace_id, enterprise_id=enterprise_id, at=at)
    row = session.get(WorkspaceRow, workspace_id)
    assert row is not None
    setattr(row, f"{purpose}_channel", channel_id)
    row.updated_at = _now(at)
