"""`quorum db ...`: the database schema."""

from __future__ import annotations

import typer

from bot.cli.edge import edge, load_settings, out
from bot.cli.root import app

db_app = typer.Typer(help="Database schema: upgrade to the latest migration, show the revision.")
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
