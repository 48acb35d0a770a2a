"""Every workspace-owned row says which workspace owns it; the ``workspaces`` table.

``workspace_id`` (the Slack team id, or an Enterprise Grid org id) is added, NOT NULL and
without a default, to every table that holds a workspace's data; child rows carry it too,
so each query filters on it directly. Existing rows get the team id their panel run was
asked in where one was recorded (children follow their parent), otherwise ``""``:
"unassigned", which the bot claims for the token's workspace at start
(:func:`storage.workspace_repo.claim_unassigned`; ``quorum db assign-workspace``).

Keys that name things by Slack ids now include the workspace (a Slack Connect channel has
the same id in both workspaces); ``job_runs`` is unique per (workspace, job, period).

Revision ID: 0011_workspaces
Revises: 0010_slack_installations
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_workspaces"
down_revision = "0010_slack_installations"
branch_labels = None
depends_on = None

COLUMN = "workspace_id"
#: table -> whether ``workspace_id`` has an index of its own (``ix_<table>_workspace_id``).
TABLES = {
    "panel_runs": False,
    "answers": False,
    "signals": True,
    "corrections": True,
    "votes": True,
    "deliveries": False,
    "cases": False,
    "case_events": True,
    "eval_runs": True,
    "eval_results": True,
    "job_runs": False,
}
#: Children whose workspace is their panel run's.
RUN_CHILDREN = ("answers", "signals", "corrections", "votes")
#: (name, table, old columns, new columns)
INDEXES = (
    (
        "ix_panel_runs_requester_created_at",
        "ix_panel_runs_workspace_requester",
        "panel_runs",
        ["requester", "created_at"],
        ["workspace_id", "requester", "created_at"],
    ),
    (
        "ix_panel_runs_channel_id_message_ts",
        "ix_panel_runs_workspace_message",
        "panel_runs",
        ["channel_id", "message_ts"],
        ["workspace_id", "channel_id", "message_ts"],
    ),
    (
        "ix_cases_status_set",
        "ix_cases_workspace_status_set",
        "cases",
        ["status", "case_set"],
        ["workspace_id", "status", "case_set"],
    ),
)
NEW_INDEXES = (
    ("ix_panel_runs_workspace_created_at", "panel_runs", ["workspace_id", "created_at"]),
    ("ix_answers_workspace_created_at", "answers", ["workspace_id", "created_at"]),
)


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("enterprise_id", sa.String(length=64), nullable=True),
        sa.Column("digest_channel", sa.String(length=64), nullable=True),
        sa.Column("review_channel", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
    )
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column(COLUMN, sa.String(length=64), nullable=False, server_default="")
            )
    _assign_existing_rows()
    for table, indexed in TABLES.items():
        # No default from now on: an insert that forgets its workspace is an error.
        with op.batch_alter_table(table) as batch:
            batch.alter_column(COLUMN, existing_type=sa.String(length=64), server_default=None)
            if indexed:
                batch.create_index(f"ix_{table}_{COLUMN}", [COLUMN], unique=False)
    for old, new, table, _old_cols, new_cols in INDEXES:
        with op.batch_alter_table(table) as batch:
            batch.drop_index(old)
            batch.create_index(new, new_cols, unique=False)
    for name, table, cols in NEW_INDEXES:
        with op.batch_alter_table(table) as batch:
            batch.create_index(name, cols, unique=False)
    with op.batch_alter_table("job_runs") as batch:
        batch.drop_constraint("uq_job_runs_job_period", type_="unique")
        batch.create_unique_constraint(
            "uq_job_runs_workspace_job_period", ["workspace_id", "job", "period"]
        )
    # Calibrators are per workspace: one workspace's labels never train another's.
    with op.batch_alter_table("calibrators") as batch:
        batch.add_column(
            sa.Column(COLUMN, sa.String(length=64), nullable=False, server_default="")
        )
    with op.batch_alter_table("calibrators") as batch:
        batch.alter_column(COLUMN, existing_type=sa.String(length=64), server_default=None)
        batch.drop_constraint("pk_calibrators", type_="primary")
        batch.create_primary_key("pk_calibrators", [COLUMN, "id"])


def _assign_existing_rows() -> None:
    """Rows stored before workspaces: a run's recorded team id, children follow."""
    conn = op.get_bind()
    conn.execute(
        sa.text("UPDATE panel_runs SET workspace_id = team_id WHERE team_id IS NOT NULL")
    )
    for child in RUN_CHILDREN:
        conn.execute(
            sa.text(
                f"UPDATE {child} SET workspace_id = (SELECT p.workspace_id FROM panel_runs p "
                f"WHERE p.id = {child}.run_id)"
            )
        )
    conn.execute(
        sa.text(
            "UPDATE cases SET workspace_id = (SELECT p.workspace_id FROM panel_runs p "
            "WHERE p.id = cases.source_run_id) WHERE source_run_id IS NOT NULL"
        )
    )
    conn.execute(
        sa.text(
            "UPDATE case_events SET workspace_id = (SELECT c.workspace_id FROM cases c "
            "WHERE c.id = case_events.case_id)"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("calibrators") as batch:
        batch.drop_constraint("pk_calibrators", type_="primary")
    # Back to one calibrator per id: the unassigned ones, else any workspace's.
    op.execute(
        "DELETE FROM calibrators WHERE workspace_id <> '' AND id IN "
        "(SELECT id FROM calibrators WHERE workspace_id = '')"
    )
    op.execute(
        "DELETE FROM calibrators WHERE workspace_id > (SELECT MIN(c.workspace_id) "
        "FROM calibrators c WHERE c.id = calibrators.id)"
    )
    with op.batch_alter_table("calibrators") as batch:
        batch.drop_column(COLUMN)
        batch.create_primary_key("pk_calibrators", ["id"])
    with op.batch_alter_table("job_runs") as batch:
        batch.drop_constraint("uq_job_runs_workspace_job_period", type_="unique")
        batch.create_unique_constraint("uq_job_runs_job_period", ["job", "period"])
    for name, table, _cols in NEW_INDEXES:
        with op.batch_alter_table(table) as batch:
            batch.drop_index(name)
    for old, new, table, old_cols, _new_cols in INDEXES:
        with op.batch_alter_table(table) as batch:
            batch.drop_index(new)
            batch.create_index(old, old_cols, unique=False)
    for table, indexed in TABLES.items():
        with op.batch_alter_table(table) as batch:
            if indexed:
                batch.drop_index(f"ix_{table}_{COLUMN}")
            batch.drop_column(COLUMN)
    op.drop_table("workspaces")
