"""One live case per panel run: a partial unique index on ``cases.source_run_id``.

Two 👎 on one result, handled concurrently (two processes, or two threads 16 ms apart),
both looked for a live case from that run, found none and each made one. The index makes
the database the judge: the second insert finds the first (``ON CONFLICT DO NOTHING``)
and is merged into it (:func:`storage.case_repo.propose_case`).

A database that already holds such twins keeps every case: all but the oldest live case
of a run lose their link to the run (``source_run_id`` becomes NULL, as when a run is
deleted) and get an ``unlinked`` event naming the case they duplicate, so a reviewer can
reject them. Nothing else about them changes.

Revision ID: 0007_one_live_case_per_run
Revises: 0006_case_assertions
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0007_one_live_case_per_run"
down_revision = "0006_case_assertions"
branch_labels = None
depends_on = None

INDEX = "uq_cases_live_source_run"
LIVE = ("proposed", "active")
LIVE_SQL = "status IN ('proposed', 'active')"

_cases = sa.table(
    "cases",
    sa.column("id", sa.String),
    sa.column("status", sa.String),
    sa.column("source_run_id", sa.Integer),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_events = sa.table(
    "case_events",
    sa.column("case_id", sa.String),
    sa.column("action", sa.String),
    sa.column("actor", sa.String),
    sa.column("detail", sa.JSON),
    sa.column("at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_cases.c.id, _cases.c.source_run_id)
        .where(_cases.c.source_run_id.is_not(None), _cases.c.status.in_(LIVE))
        .order_by(_cases.c.source_run_id, _cases.c.created_at, _cases.c.id)
    ).all()
    keeper: dict[int, str] = {}
    now = datetime.now(UTC)
    for case_id, run_id in rows:
        if run_id not in keeper:
            keeper[run_id] = case_id
            continue
        conn.execute(_cases.update().where(_cases.c.id == case_id).values(source_run_id=None))
        conn.execute(
            _events.insert().values(
                case_id=case_id,
                action="unlinked",
                actor="migration 0007",
                detail={"run_id": run_id, "duplicate_of": keeper[run_id]},
                at=now,
            )
        )
    op.create_index(
        INDEX,
        "cases",
        ["source_run_id"],
        unique=True,
        sqlite_where=sa.text(LIVE_SQL),
        postgresql_where=sa.text(LIVE_SQL),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="cases")
