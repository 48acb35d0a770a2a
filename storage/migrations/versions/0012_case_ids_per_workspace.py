"""A case id is one workspace's: the key of ``cases`` is (workspace_id, id).

With one global key, a workspace that imported a case file another workspace had
already imported was refused, and the refusal told it which ids the other one uses.
``case_events`` now points at its case by (workspace_id, case_id). ``previous_id`` (the
case an edited golden case replaced, in the same workspace) loses its foreign key: a
composite one would set the workspace to NULL with it, and cases are retired, never
deleted one by one (a workspace's delete takes all of them).

Downgrading fails if two workspaces use the same case id.

Revision ID: 0012_case_ids_per_workspace
Revises: 0011_workspaces
"""

from __future__ import annotations

from alembic import op

revision = "0012_case_ids_per_workspace"
down_revision = "0011_workspaces"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # What points at cases.id goes first: PostgreSQL will not drop a key in use, and on
    # SQLite recreating ``cases`` under a live foreign key would cascade to the events.
    with op.batch_alter_table("case_events") as batch:
        batch.drop_constraint("fk_case_events_case_id_cases", type_="foreignkey")
    with op.batch_alter_table("cases") as batch:
        batch.drop_constraint("fk_cases_previous_id_cases", type_="foreignkey")
        batch.drop_constraint("pk_cases", type_="primary")
        batch.create_primary_key("pk_cases", ["workspace_id", "id"])
    with op.batch_alter_table("case_events") as batch:
        batch.create_foreign_key(
            "fk_case_events_workspace_id_cases",
            "cases",
            ["workspace_id", "case_id"],
            ["workspace_id", "id"],
            ondelete="CASCADE",
            # checked at commit: a claim moves a case and its events in one transaction
            deferrable=True,
            initially="DEFERRED",
        )


def downgrade() -> None:
    with op.batch_alter_table("case_events") as batch:
        batch.drop_constraint("fk_case_events_workspace_id_cases", type_="foreignkey")
    with op.batch_alter_table("cases") as batch:
        batch.drop_constraint("pk_cases", type_="primary")
        batch.create_primary_key("pk_cases", ["id"])
        batch.create_foreign_key(
            "fk_cases_previous_id_cases", "cases", ["previous_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("case_events") as batch:
        batch.create_foreign_key(
            "fk_case_events_case_id_cases", "cases", ["case_id"], ["id"], ondelete="CASCADE"
        )
