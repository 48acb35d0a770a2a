"""Interactive demand per member and second: the budget web and workers share.

The web process adds how many model calls people caused each second; eval runs and
`quorum worker` read the last seconds and leave that share of each member's rate to
people (see ``bot.runtime.shared_budget``).

Revision ID: 0009_interactive_demand
Revises: 0008_sample_limits
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_interactive_demand"
down_revision = "0008_sample_limits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "interactive_demand",
        sa.Column("second", sa.DateTime(timezone=True), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("second", "member", name="pk_interactive_demand"),
    )


def downgrade() -> None:
    op.drop_table("interactive_demand")
