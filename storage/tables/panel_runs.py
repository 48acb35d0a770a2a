"""Tables for panel runs and the production signals people leave on them.

Enumerated columns are plain strings guarded by CHECK constraints (portable across
SQLite and PostgreSQL, and easy to extend in a migration). Every datetime column is a
UTC-aware :class:`storage.tables.base.UTCDateTime` through the Base's type map.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
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

from evals.cases.schema import FailureMode, Severity
from storage.tables.base import Base, one_of, workspace_column

RUN_ORIGINS = ("cli", "slack", "api")
ANSWER_ROLES = ("panel", "shadow")
SIGNAL_KINDS = ("up", "down", "flag")
SIGNAL_SOURCES = ("reaction", "button")
CORRECTION_SOURCES = ("modal", "thread")
SEVERITIES = tuple(s.value for s in Severity)
FAILURE_MODES = tuple(m.value for m in FailureMode)


class PanelRunRow(Base):
    """One question put to the panel, where it came from, and the consensus served."""

    __tablename__ = "panel_runs"
    __table_args__ = (
        CheckConstraint(one_of("origin", RUN_ORIGINS), name="origin"),
        Index("ix_panel_runs_workspace_requester", "workspace_id", "requester", "created_at"),
        Index("ix_panel_runs_workspace_message", "workspace_id", "channel_id", "message_ts"),
        Index("ix_panel_runs_workspace_created_at", "workspace_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: The owning workspace (the scope of every query); ``team_id`` stays what Slack
    #: sent as the request's team (None from the CLI), kept as the record of origin.
    workspace_id: Mapped[str] = workspace_column()
    created_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime]
    question: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(16))
    requester: Mapped[str] = mapped_column(String(255))
    team_id: Mapped[str | None] = mapped_column(String(64))
    channel_id: Mapped[str | None] = mapped_column(String(64))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    config_hash: Mapped[str] = mapped_column(String(128))
    quorum: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    consensus_member: Mapped[str | None] = mapped_column(String(255))
    consensus_text: Mapped[str | None] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    raw_confidence: Mapped[float] = mapped_column(Float)
    calibrator_id: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text, default="")
    clusters: Mapped[list[list[str]]] = mapped_column(JSON)
    features: Mapped[dict[str, Any]] = mapped_column(JSON)
    latency_ms: Mapped[int] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    delivery_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    #: Exactly what the panel was sent: ``{"messages": [{role, content}], "options":
    #: {member: {temperature, max_tokens}}}`` (None for runs stored before 0005).
    prompt: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class AnswerRow(Base):
    """One member's answer in a run: a served panel answer or a hidden shadow answer."""

    __tablename__ = "answers"
    __table_args__ = (
        CheckConstraint(one_of("role", ANSWER_ROLES), name="role"),
        Index("ix_answers_member_created_at", "member", "created_at"),
        Index("ix_answers_workspace_created_at", "workspace_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = workspace_column()
    run_id: Mapped[int] = mapped_column(ForeignKey("panel_runs.id", ondelete="CASCADE"), index=True)
    member: Mapped[str] = mapped_column(String(255))
    model: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    resolved_model: Mapped[str | None] = mapped_column(String(255))
    latency_ms: Mapped[int] = mapped_column(Integer)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    finish_reason: Mapped[str | None] = mapped_column(String(64))
    error_kind: Mapped[str | None] = mapped_column(String(32))
    error_detail: Mapped[str | None] = mapped_column(Text)
    agreement: Mapped[float | None] = mapped_column(Float)
    message_ts: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(index=True)


class SignalRow(Base):
    """A 👍/👎/🚩 left on a run (``answer_id`` None: the result message) or on one answer.

    ``answer_key`` is ``answer_id`` or 0, so the uniqueness rule "each person counts once
    per message and signal" holds on every backend (NULLs are distinct in unique keys).
    """

    __tablename__ = "signals"
    __table_args__ = (
        CheckConstraint(one_of("kind", SIGNAL_KINDS), name="kind"),
        CheckConstraint(one_of("source", SIGNAL_SOURCES), name="source"),
        UniqueConstraint("run_id", "answer_key", "user_id", "kind", name="uq_signals_once"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = workspace_column(index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("panel_runs.id", ondelete="CASCADE"), index=True)
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"))
    answer_key: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(index=True)
    retracted_at: Mapped[datetime | None]


class CorrectionRow(Base):
    """What the right answer was and what went wrong, as a person told us."""

    __tablename__ = "corrections"
    __table_args__ = (
        CheckConstraint(one_of("failure_mode", FAILURE_MODES), name="failure_mode"),
        CheckConstraint(one_of("severity", SEVERITIES), name="severity"),
        CheckConstraint(one_of("source", CORRECTION_SOURCES), name="source"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = workspace_column(index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("panel_runs.id", ondelete="CASCADE"), index=True)
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("answers.id", ondelete="SET NULL"))
    user_id: Mapped[str] = mapped_column(String(64))
    correct_answer: Mapped[str] = mapped_column(Text)
    failure_mode: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(index=True)


class VoteRow(Base):
    """A person's "best answer" pick for a run; a new vote moves it."""

    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("run_id", "user_id", name="uq_votes_run_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[str] = workspace_column(index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("panel_runs.id", ondelete="CASCADE"))
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(index=True)


class DeliveryRow(Base):
    """An idempotency key (a Slack event id, a trigger id, ...) seen once, across processes."""

    __tablename__ = "deliveries"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    workspace_id: Mapped[str] = workspace_column()
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(index=True)
