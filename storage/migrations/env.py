"""Alembic environment for Quorum.

Normally driven by :meth:`storage.db.Database.upgrade`, which hands over its own
connection (``config.attributes["connection"]``) so the SQLite pragmas and the
PostgreSQL search path apply. Falls back to ``sqlalchemy.url`` for the alembic CLI.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from storage.tables import metadata

config = context.config


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_with(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: set sqlalchemy.url or pass a connection")
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        run_with(conn)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
