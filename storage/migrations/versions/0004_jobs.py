"""Scheduled job periods (exactly once per period) and stored calibrators.

Revision ID: 0004_jobs
Revises: 0003_eval_runs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.tables.base import UTCDateTime

revision = "0004_jobs"
down_revision = "0003_eval_runs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("period", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("scheduled_for", UTCDateTime(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_job_runs"),
        sa.UniqueConstraint("job", "period", name="uq_job_runs_job_period"),
    )
    op.create_index("ix_job_runs_status_started", "job_runs", ["status", "started_at"])
    op.create_table(
        "calibrators",
        sa.Column("id", sa.String(120), nullable=False),
        sa.Column("json", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("n_labels", sa.Integer(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_calibrators"),
    )


def downgrade() -> None:
    op.drop_table("calibrators")
    op.drop_index("ix_job_runs_status_started", table_name="job_runs")
    op.drop_table("job_runs")
