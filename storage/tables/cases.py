"""Tables for eval cases and their audit trail (migration ``0002_cases``).

A case row mirrors :class:`evals.cases.schema.EvalCase`: the question and its context in
``input`` (JSON), the typed assertions in ``assertions`` (JSON), tags as a JSON list. The row also
keeps what only the database needs: a cached question embedding for near-duplicate
detection and the panel run the case came from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from evals.cases.schema import CaseSet, CaseSource, CaseStatus, Severity
from storage.tables.base import Base, one_of, workspace_column

CASE_SETS = tuple(s.value for s in CaseSet)
CASE_STATUSES = tuple(s.value for s in CaseStatus)
CASE_SOURCES = tuple(s.value for s in CaseSource)
CASE_SEVERITIES = tuple(s.value for s in Severity)
#: The statuses of a live case: the one a new signal on its run is merged into.
LIVE_STATUSES = (CaseStatus.PROPOSED.value, CaseStatus.ACTIVE.value)
#: SQL for "the case is live", shared by the unique index and the inserts it arbitrates.
LIVE_SQL = one_of("status", LIVE_STATUSES)


class CaseRow(Base):
    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(one_of("case_set", CASE_SETS), name="case_set"),
        CheckConstraint(one_of("status", CASE_STATUSES), name="status"),
        CheckConstraint(one_of("severity", CASE_SEVERITIES), name="severity"),
        CheckConstraint(one_of("source", CASE_SOURCES), name="source"),
        # A case id is one workspace's (revision 0012): two workspaces may import the
        # same file, and neither learns which ids the other uses.
        PrimaryKeyConstraint("workspace_id", "id"),
        Index("ix_cases_workspace_status_set", "workspace_id", "status", "case_set"),
        # One live case per panel run (revision 0007): two signals on one result, even
        # milliseconds apart in two processes, make one case.
        Index(
            "uq_cases_live_source_run",
            "source_run_id",
            unique=True,
            sqlite_where=text(LIVE_SQL),
            postgresql_where=text(LIVE_SQL),
        ),
    )

    id: Mapped[str] = mapped_column(String(40))
    workspace_id: Mapped[str] = workspace_column()
    case_set: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    question: Mapped[str] = mapped_column(Text)
    input: Mapped[dict[str, Any]] = mapped_column(JSON)
    expected: Mapped[str | None] = mapped_column(Text)
    #: The typed assertions, ``[{type, value, threshold, weight}]`` (revision 0006).
    assertions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    #: promptfoo's test threshold: pass on the weighted score instead of all assertions.
    threshold: Mapped[float | None] = mapped_column(Float)
    category: Mapped[str | None] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    tags: Mapped[list[str]] = mapped_column(JSON)
    source: Mapped[str] = mapped_column(String(16))
    source_link: Mapped[str | None] = mapped_column(Text)
    observed: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: The case this one is a new version of, in the same workspace (no foreign key: a
    #: composite one would null the workspace too; cases are retired, never deleted one
    #: by one).
    previous_id: Mapped[str | None] = mapped_column(String(40))
    merged_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    source_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("panel_runs.id", ondelete="SET NULL"), index=True
    )
    embedding: Mapped[list[float] | None] = mapped_column(JSON)
    embedding_model: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CaseEventRow(Base):
    """Who did what to a case, when: proposed, merged, approved, edited, rejected,
    retired, rotated, imported."""

    __tablename__ = "case_events"
    __table_args__ = (
        # Checked at commit: a claim moves a case and its events in one transaction.
        ForeignKeyConstraint(
            ["workspace_id", "case_id"],
            ["cases.workspace_id", "cases.id"],
            ondelete="CASCADE",
            deferrable=True,
            initially="DEFERRED",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = workspace_column(index=True)
    case_id: Mapped[str] = mapped_column(String(40), index=True)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime]
