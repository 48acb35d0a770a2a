"""The Database handle: URLs, SQLite settings, sessions, health checks, safe errors."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from evals.errors import ConfigError, StorageError
from storage.db import Database, normalize_url, shipped_head
from storage.tables.panel_runs import DeliveryRow


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5432/q", "postgresql+psycopg://u:***@db:5432/q"),
        ("postgres://u:p@db/q", "postgresql+psycopg://u:***@db/q"),
        ("postgresql+psycopg://u@db/q", "postgresql+psycopg://u@db/q"),
        ("sqlite:///quorum.db", "sqlite:///quorum.db"),
    ],
)
def test_urls_are_normalised(given: str, expected: str) -> None:
    assert normalize_url(given).render_as_string(hide_password=True) == expected


@pytest.mark.parametrize("bad", ["not a url", "mysql://u@h/db", ""])
def test_bad_urls_say_what_is_expected(bad: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        Database(bad)


def test_relative_sqlite_path_gets_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db = Database("sqlite:///data/sub/quorum.db")
    try:
        assert (tmp_path / "data" / "sub").is_dir()
        db.upgrade()
        assert (tmp_path / "data" / "sub" / "quorum.db").is_file()
        assert db.ping()
    finally:
        db.dispose()


def test_sqlite_pragmas(sqlite_db: Database) -> None:
    with sqlite_db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(StorageError), db.session() as s:
        s.execute(
            text(
                "INSERT INTO signals (run_id, answer_key, user_id, kind, source, created_at)"
                " VALUES (12345, 0, 'U1', 'up', 'reaction', CURRENT_TIMESTAMP)"
            )
        )


def test_session_commits_on_success_and_rolls_back_on_error(db: Database) -> None:
    now = datetime.now(UTC)
    with db.session() as s:
        s.add(DeliveryRow(key="kept", workspace_id="T1", kind="test", created_at=now))
    with pytest.raises(KeyError), db.session() as s:
        s.add(DeliveryRow(key="dropped", workspace_id="T1", kind="test", created_at=now))
        s.flush()
        raise KeyError("boom")
    with db.session() as s:
        assert [r.key for r in s.query(DeliveryRow)] == ["kept"]


def test_session_can_be_used_from_threads(sqlite_db: Database) -> None:
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            with sqlite_db.session() as s:
                s.add(
                    DeliveryRow(
                        key=f"k{i}", workspace_id="T1", kind="t", created_at=datetime.now(UTC)
                    )
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with sqlite_db.session() as s:
        assert s.query(DeliveryRow).count() == 8


def test_unreachable_postgres_gives_a_safe_storage_error() -> None:
    db = Database("postgresql://quorum:s3cret-pw@127.0.0.1:1/quorum?connect_timeout=2")
    try:
        assert db.ping() is False
        with pytest.raises(StorageError) as caught, db.session() as s:
            s.execute(text("SELECT 1"))
        message = str(caught.value)
        assert "s3cret-pw" not in message
        assert "***" in message
        assert "127.0.0.1" in message
        assert caught.value.user_message == "Something went wrong on our side."
        with pytest.raises(StorageError) as upgrading:
            db.upgrade()
        assert "s3cret-pw" not in str(upgrading.value)
    finally:
        db.dispose()


def test_repr_hides_the_password() -> None:
    db = Database("postgresql://quorum:s3cret-pw@127.0.0.1:1/quorum")
    assert "s3cret-pw" not in repr(db)
    db.dispose()


def test_ping_on_a_healthy_database(db: Database) -> None:
    assert db.ping() is True


def test_the_head_read_from_the_files_is_alembics_head() -> None:
    """`ensure_schema` reads the shipped head without importing Alembic; it must be the
    head Alembic itself computes (a new migration with a typo'd down_revision fails here)."""

    database = Database("sqlite://")
    try:
        scripts = ScriptDirectory.from_config(database.alembic_config())
        assert shipped_head() == scripts.get_current_head()
    finally:
        database.dispose()
