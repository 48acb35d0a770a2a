"""Scheduled jobs (one row per job and period) and stored calibrators.

``job_runs`` has a unique key on (job, period): whichever process inserts the row first
owns that period, so a digest or benchmark happens once even with several processes or
a restart in the middle. ``calibrators`` keeps every calibrator Quorum has served or
fitted, with its held-out metrics and which one is active; ``panel_runs.calibrator_id``
names the one each run used.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.tables.base import Base, workspace_column


class JobStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    MISSED = "missed"  # its time passed beyond the grace window; told in the next digest


class JobPeriodRow(Base):
    __tablename__ = "job_runs"
    __table_args__ = (
        UniqueConstraint("workspace_id", "job", "period", name="uq_job_runs_workspace_job_period"),
        Index("ix_job_runs_status_started", "status", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = workspace_column()
    job: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    scheduled_for: Mapped[datetime | None] = mapped_column(nullable=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)


class CalibratorRow(Base):
    """A calibrator one workspace served or fitted: its labels train its calibrators
    only (revision 0010 keys the table by workspace)."""

    __tablename__ = "calibrators"

    workspace_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16))  # "shipped" | "file" | "refit"
    n_labels: Mapped[int] = mapped_column(Integer, default=0)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
