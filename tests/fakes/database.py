"""Database fixtures: a fresh migrated SQLite file, a fresh PostgreSQL schema, or both.

- ``sqlite_db``: a migrated SQLite file in ``tmp_path`` (a copy of a template migrated
  once per session), private to the test.
- ``postgres_db``: a migrated schema on the server at ``$QUORUM_TEST_POSTGRES_URL``
  (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``), private to this test
  session, emptied before each test and dropped at the end; the test is skipped, naming
  the URL tried, when the server is unreachable. Mark such tests ``@pytest.mark.postgres``.
- ``db``: parametrized over both (the PostgreSQL case carries the ``postgres`` mark).
- ``empty_sqlite_url`` / ``empty_postgres_url`` / ``empty_db_url``: URLs of databases with
  no tables yet, for migration tests.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url

from storage.db import Database, normalize_url, safe_url

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_test_url() -> str:
    return os.environ.get("QUORUM_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def _libpq_dsn(url: str) -> str:
    """The SQLAlchemy URL as a plain libpq URL for psycopg."""
    return normalize_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The test server's URL; skips (saying which URL was tried) when it is unreachable."""
    url = postgres_test_url()
    try:
        with psycopg.connect(_libpq_dsn(url), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        pytest.skip(
            f"PostgreSQL not reachable at {safe_url(make_url(url))} "
            f"(set QUORUM_TEST_POSTGRES_URL): {reason}"
        )
    return url


def with_search_path(url: str, schema: str) -> str:
    """``url`` whose connections use ``schema`` as their only search path."""
    parsed = normalize_url(url)
    options = f"-csearch_path={schema}"
    return parsed.update_query_dict({"options": options}).render_as_string(hide_password=False)


@pytest.fixture
def empty_postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty schema on the test server (dropped afterwards), as a database URL."""
    with _postgres_schema(postgres_server_url) as url:
        yield url


@pytest.fixture
def empty_sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/quorum.db"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"empty_{request.param}_url")
    return url


@contextmanager
def _postgres_schema(server_url: str) -> Iterator[str]:
    schema = f"quorum_test_{uuid.uuid4().hex[:12]}"
    dsn = _libpq_dsn(server_url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(server_url, schema)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per test session; each test gets a copy."""
    path = tmp_path_factory.mktemp("sqlite-template") / "quorum.db"
    template = Database(f"sqlite:///{path}")
    try:
        template.upgrade()
    finally:
        template.dispose()  # checkpoints the WAL into the file
    return path


@pytest.fixture(scope="session")
def _postgres_migrated_url(postgres_server_url: str) -> Iterator[str]:
    """A schema migrated once per test session; emptied before each test that uses it."""
    with _postgres_schema(postgres_server_url) as url:
        migrator = Database(url)
        try:
            migrator.upgrade()
        finally:
            migrator.dispose()
        yield url


@pytest.fixture
def sqlite_db(_sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    """A freshly migrated SQLite database file, private to the test."""
    path = tmp_path / "quorum.db"
    shutil.copyfile(_sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def postgres_db(_postgres_migrated_url: str) -> Iterator[Database]:
    """A migrated PostgreSQL schema with no rows, used by this test alone.

    The schema is migrated once per session and every table is emptied (sequences
    restarted) before each test, which is much faster than migrating per test.
    Skips when the server is unreachable.
    """
    database = Database(_postgres_migrated_url)
    try:
        with database.engine.begin() as conn:
            # DELETE (children first) and restarting sequences is ~10x faster than TRUNCATE
            # on tables this small.
            ordered = inspect(conn).get_sorted_table_and_fkc_names()
            for table, _ in reversed(ordered):
                if table and table != "alembic_version":
                    conn.execute(text(f'DELETE FROM "{table}"'))
            sequences = conn.execute(
                text(
                    "SELECT sequence_name FROM information_schema.sequences"
                    " WHERE sequence_schema = current_schema()"
                )
            ).scalars()
            for sequence in sequences.all():
                conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
        yield database
    finally:
        database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Database:
    """A freshly migrated database; the test runs once on SQLite and once on PostgreSQL."""
    database: Database = request.getfixturevalue(f"{request.param}_db")
    return database
