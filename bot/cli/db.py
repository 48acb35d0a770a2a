"""`quorum db ...`: the database schema."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.edge import edge, load_settings, out
from bot.cli.root import app

db_app = typer.Typer(
    help="The database: upgrade its schema, show the revision, list and assign workspaces."
)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
@edge
def upgrade() -> None:
    """Apply every pending migration (Procfile `release:` runs this)."""
    from storage.db import Database

    database = Database(load_settings().database_url)
    try:
        before = database.reachable_revision()
        database.upgrade()
        after = database.current_revision()
    finally:
        database.dispose()
    if before == after:
        out.print(f"Database already at the latest revision ({after}).")
    else:
        out.print(f"Database upgraded from {before or 'empty'} to {after}.")


@db_app.command("assign-workspace")
@edge
def assign_workspace(
    workspace: Annotated[
        str, typer.Argument(metavar="TEAM_ID", help="The Slack team id the old rows belong to.")
    ],
) -> None:
    """Give every row stored before workspaces existed (unassigned) to TEAM_ID.

    The bot does this itself at start in single-token mode; run it by hand before a
    deployment serves several workspaces. Safe to repeat: claimed rows are not moved."""
    from storage.db import Database
    from storage.workspace_repo import claim_unassigned

    database = Database(load_settings().database_url)
    try:
        database.prepare_schema()
        with database.session() as session:
            claimed = claim_unassigned(session, workspace)
    finally:
        database.dispose()
    if not claimed:
        out.print(f"No unassigned rows; nothing changed (workspace {workspace} is known).")
        return
    counts = ", ".join(f"{table}: {n}" for table, n in sorted(claimed.items()))
    out.print(f"Assigned to {workspace}: {counts}.", highlight=False)


@db_app.command("workspaces")
@edge
def workspaces() -> None:
    """The workspaces this database holds data of (`""`: rows not yet assigned)."""
    from storage.db import Database
    from storage.workspace_repo import workspaces_with_data

    database = Database(load_settings().database_url)
    try:
        database.prepare_schema()
        with database.session() as session:
            found = workspaces_with_data(session)
    finally:
        database.dispose()
    if not found:
        out.print("No workspace has data yet.")
    for workspace in found:
        out.print(workspace or '"" (unassigned: `quorum db assign-workspace TEAM_ID`)')


@db_app.command("current")
@edge
def current() -> None:
    """Print the database's current migration revision."""
    from storage.db import Database

    database = Database(load_settings().database_url)
    try:
        out.print(database.reachable_revision() or "empty (run `quorum db upgrade`)")
    finally:
        database.dispose()
