"""Initial schema: panel runs, answers, signals, corrections, votes, deliveries.

Written for SQLite and PostgreSQL alike (plain create/drop; no ALTER needed).

Revision ID: 0001_initial
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_deliveries")),
    )
    op.create_index(op.f("ix_deliveries_created_at"), "deliveries", ["created_at"], unique=False)

    op.create_table(
        "panel_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("requester", sa.String(length=255), nullable=False),
        sa.Column("team_id", sa.String(length=64), nullable=True),
        sa.Column("channel_id", sa.String(length=64), nullable=True),
        sa.Column("thread_ts", sa.String(length=32), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.Column("config_hash", sa.String(length=128), nullable=False),
        sa.Column("quorum", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("consensus_member", sa.String(length=255), nullable=True),
        sa.Column("consensus_text", sa.Text(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("raw_confidence", sa.Float(), nullable=False),
        sa.Column("calibrator_id", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("clusters", sa.JSON(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("delivery_key", sa.String(length=255), nullable=True),
        sa.CheckConstraint("origin IN ('cli', 'slack', 'api')", name=op.f("ck_panel_runs_origin")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_panel_runs")),
        sa.UniqueConstraint("delivery_key", name=op.f("uq_panel_runs_delivery_key")),
    )
    op.create_index(
        "ix_panel_runs_channel_id_message_ts",
        "panel_runs",
        ["channel_id", "message_ts"],
        unique=False,
    )
    op.create_index(op.f("ix_panel_runs_created_at"), "panel_runs", ["created_at"], unique=False)
    op.create_index(
        "ix_panel_runs_requester_created_at",
        "panel_runs",
        ["requester", "created_at"],
        unique=False,
    )

    op.create_table(
        "answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("member", sa.String(length=255), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("resolved_model", sa.String(length=255), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("finish_reason", sa.String(length=64), nullable=True),
        sa.Column("error_kind", sa.String(length=32), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("agreement", sa.Float(), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("role IN ('panel', 'shadow')", name=op.f("ck_answers_role")),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["panel_runs.id"],
            name=op.f("fk_answers_run_id_panel_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answers")),
    )
    op.create_index(op.f("ix_answers_created_at"), "answers", ["created_at"], unique=False)
    op.create_index(
        "ix_answers_member_created_at", "answers", ["member", "created_at"], unique=False
    )
    op.create_index(op.f("ix_answers_message_ts"), "answers", ["message_ts"], unique=False)
    op.create_index(op.f("ix_answers_run_id"), "answers", ["run_id"], unique=False)

    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("answer_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("correct_answer", sa.Text(), nullable=False),
        sa.Column("failure_mode", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "failure_mode IN ('wrong_fact', 'outdated', 'incomplete', 'misunderstood_question',"
            " 'unsafe', 'refused', 'format', 'other')",
            name=op.f("ck_corrections_failure_mode"),
        ),
        sa.CheckConstraint(
            "severity IN ('low', 'medium', 'high')", name=op.f("ck_corrections_severity")
        ),
        sa.CheckConstraint("source IN ('modal', 'thread')", name=op.f("ck_corrections_source")),
        sa.ForeignKeyConstraint(
            ["answer_id"],
            ["answers.id"],
            name=op.f("fk_corrections_answer_id_answers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["panel_runs.id"],
            name=op.f("fk_corrections_run_id_panel_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corrections")),
    )
    op.create_index(op.f("ix_corrections_created_at"), "corrections", ["created_at"], unique=False)
    op.create_index(op.f("ix_corrections_run_id"), "corrections", ["run_id"], unique=False)

    op.create_table(
        "signals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("answer_id", sa.Integer(), nullable=True),
        sa.Column("answer_key", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retracted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('up', 'down', 'flag')", name=op.f("ck_signals_kind")),
        sa.CheckConstraint("source IN ('reaction', 'button')", name=op.f("ck_signals_source")),
        sa.ForeignKeyConstraint(
            ["answer_id"],
            ["answers.id"],
            name=op.f("fk_signals_answer_id_answers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["panel_runs.id"],
            name=op.f("fk_signals_run_id_panel_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
        sa.UniqueConstraint("run_id", "answer_key", "user_id", "kind", name="uq_signals_once"),
    )
    op.create_index(op.f("ix_signals_created_at"), "signals", ["created_at"], unique=False)
    op.create_index(op.f("ix_signals_run_id"), "signals", ["run_id"], unique=False)

    op.create_table(
        "votes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("answer_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["answer_id"],
            ["answers.id"],
            name=op.f("fk_votes_answer_id_answers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["panel_runs.id"],
            name=op.f("fk_votes_run_id_panel_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_votes")),
        sa.UniqueConstraint("run_id", "user_id", name="uq_votes_run_user"),
    )
    op.create_index(op.f("ix_votes_created_at"), "votes", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_votes_created_at"), table_name="votes")

    op.drop_table("votes")
    op.drop_index(op.f("ix_signals_run_id"), table_name="signals")
    op.drop_index(op.f("ix_signals_created_at"), table_name="signals")

    op.drop_table("signals")
    op.drop_index(op.f("ix_corrections_run_id"), table_name="corrections")
    op.drop_index(op.f("ix_corrections_created_at"), table_name="corrections")

    op.drop_table("corrections")
    op.drop_index(op.f("ix_answers_run_id"), table_name="answers")
    op.drop_index(op.f("ix_answers_message_ts"), table_name="answers")
    op.drop_index("ix_answers_member_created_at", table_name="answers")
    op.drop_index(op.f("ix_answers_created_at"), table_name="answers")

    op.drop_table("answers")
    op.drop_index("ix_panel_runs_requester_created_at", table_name="panel_runs")
    op.drop_index(op.f("ix_panel_runs_created_at"), table_name="panel_runs")
    op.drop_index("ix_panel_runs_channel_id_message_ts", table_name="panel_runs")

    op.drop_table("panel_runs")
    op.drop_index(op.f("ix_deliveries_created_at"), table_name="deliveries")

    op.drop_table("deliveries")
