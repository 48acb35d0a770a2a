"""Tables for eval runs and their per-sample results (migration ``0003_eval_runs``).

``eval_runs.record`` holds the run's reproducibility record (:class:`evals.runs.report.RunRecord`
as JSON) and ``eval_runs.cases`` a snapshot of the cases as they were when the run
started, so a report can be rendered months later even after the cases changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from evals.runs.report import RunStatus
from storage.tables.base import Base, one_of, workspace_column

RUN_STATUSES = tuple(s.value for s in RunStatus)


class EvalRunRow(Base):
    __tablename__ = "eval_runs"
    __table_args__ = (
        CheckConstraint(one_of("status", RUN_STATUSES), name="status"),
        Index("ix_eval_runs_dataset_version_started_at", "dataset_version", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = workspace_column(index=True)
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str] = mapped_column(Text, default="")
    case_set: Mapped[str] = mapped_column(String(16))
    dataset_version: Mapped[str] = mapped_column(String(80))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    total_cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    sample_total: Mapped[int] = mapped_column(Integer)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    cases: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class EvalResultRow(Base):
    __tablename__ = "eval_results"
    __table_args__ = (
        UniqueConstraint("run_id", "case_id", "model", "sample", name="uq_eval_results_sample"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = workspace_column(index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("eval_runs.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(200))
    sample: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    passed: Mapped[bool | None] = mapped_column(Boolean)
    checks: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    verdict: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    judge_score: Mapped[int | None] = mapped_column(Integer)
    failure_mode: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    error_source: Mapped[str | None] = mapped_column(String(16))
    resolved_model: Mapped[str | None] = mapped_column(String(200))
    cost_usd: Mapped[float | None] = mapped_column(Float)
    judge_cost_usd: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    error_kind: Mapped[str | None] = mapped_column(String(32))  # a model error's ErrorKind
    throttled: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    throttle_wait_ms: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime]
