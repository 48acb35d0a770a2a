"""Eval cases and their audit trail.

Revision ID: 0002_cases
Revises: 0001_initial
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_cases"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("case_set", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("input", sa.JSON(), nullable=False),
        sa.Column("expected", sa.Text(), nullable=True),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("rubric", sa.Text(), nullable=True),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_link", sa.Text(), nullable=True),
        sa.Column("observed", sa.JSON(), nullable=True),
        sa.Column("previous_id", sa.String(40), nullable=True),
        sa.Column("merged_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("source_run_id", sa.Integer(), nullable=True),
        sa.Column("embedding", sa.JSON(), nullable=True),
        sa.Column("embedding_model", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["previous_id"], ["cases.id"], name="fk_cases_previous_id_cases", ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["source_run_id"],
            ["panel_runs.id"],
            name="fk_cases_source_run_id_panel_runs",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint("case_set IN ('golden', 'rotating')", name=op.f("ck_cases_case_set")),
        sa.CheckConstraint(
            "status IN ('proposed', 'active', 'rejected', 'retired')", name=op.f("ck_cases_status")
        ),
        sa.CheckConstraint("severity IN ('low', 'medium', 'high')", name=op.f("ck_cases_severity")),
        sa.CheckConstraint(
            "source IN ('production', 'manual', 'import')", name=op.f("ck_cases_source")
        ),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
    )
    op.create_index("ix_cases_status_set", "cases", ["status", "case_set"])
    op.create_index("ix_cases_source_run_id", "cases", ["source_run_id"])
    op.create_table(
        "case_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(40), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name="fk_case_events_case_id_cases", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_case_events"),
    )
    op.create_index("ix_case_events_case_id", "case_events", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_case_events_case_id", table_name="case_events")
    op.drop_table("case_events")
    op.drop_index("ix_cases_source_run_id", table_name="cases")
    op.drop_index("ix_cases_status_set", table_name="cases")
    op.drop_table("cases")
