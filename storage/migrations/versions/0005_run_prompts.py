"""Keep exactly what the panel was sent with each run (messages and sampling options).

Revision ID: 0005_run_prompts
Revises: 0004_jobs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_run_prompts"
down_revision = "0004_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Runs stored before this revision keep NULL: what they were sent was not recorded.
    with op.batch_alter_table("panel_runs") as batch:
        batch.add_column(sa.Column("prompt", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("panel_runs") as batch:
        batch.drop_column("prompt")
