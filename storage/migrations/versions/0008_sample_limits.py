"""Eval samples say which kind of error they had and what rate limits cost them.

``error_kind``: for a model error, its kind (``deadline``, ``auth``, ``bad_request``, ...),
so a report can tell a real failure from a run's deadline. ``throttled`` and
``throttle_wait_ms``: the requests the provider refused while the sample was asked (and
judged) and the time it waited on rate limits. Existing samples get NULL / 0: nothing
was recorded then.

Revision ID: 0008_sample_limits
Revises: 0007_one_live_case_per_run
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_sample_limits"
down_revision = "0007_one_live_case_per_run"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("eval_results") as batch:
        batch.add_column(sa.Column("error_kind", sa.String(length=32), nullable=True))
        batch.add_column(
            sa.Column("throttled", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("throttle_wait_ms", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("eval_results") as batch:
        batch.drop_column("throttle_wait_ms")
        batch.drop_column("throttled")
        batch.drop_column("error_kind")
