"""Migrations: up to head and back to base on both backends, and no drift from the models."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from evals.cases.redaction import redacted
from evals.cases.schema import CaseInput, EvalCase
from evals.errors import StorageError
from evals.scorers.checks import ScorerSettings
from evals.scorers.registry import score_answer
from storage import case_repo, repo
from storage.db import Database
from storage.records import RunOrigin
from storage.tables import metadata
from storage.tables.base import UNASSIGNED
from tests.fakes.slack_requests import TEAM_ID
from tests.storage.factories import consensus_for, panel_run
from tests.storage.test_case_repo import new_case

MY_TABLES = {"panel_runs", "answers", "signals", "corrections", "votes", "deliveries"}


def _tables(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(inspect(conn).get_table_names()) - {"alembic_version"}


def test_upgrade_to_head_then_down_to_base(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        assert db.is_empty()
        assert db.current_revision() is None
        db.upgrade()
        assert db.current_revision() == db.head_revision()
        assert _tables(db) >= MY_TABLES
        assert _tables(db) == set(metadata.tables)
        db.downgrade("base")
        assert db.current_revision() is None
        assert db.is_empty()
        db.upgrade("0001_initial")
        assert db.current_revision() == "0001_initial"
        assert _tables(db) == MY_TABLES
    finally:
        db.dispose()


def test_models_and_migrations_do_not_drift(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == [], "models and migrations differ; add a migration for:\n" + "\n".join(
        map(str, diff)
    )


def test_ensure_schema_upgrades_an_empty_database_once(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        assert db.ensure_schema() is True
        assert db.current_revision() == db.head_revision()
        assert db.ensure_schema() is False
    finally:
        db.dispose()


def test_ensure_schema_upgrades_an_outdated_database(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        db.upgrade("0001_initial")
        changed = db.ensure_schema()
        assert changed is (db.head_revision() != "0001_initial")
        assert db.current_revision() == db.head_revision()
    finally:
        db.dispose()


def test_ensure_schema_refuses_a_foreign_database(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        with db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE someone_elses (id INTEGER PRIMARY KEY)"))
        with pytest.raises(StorageError, match="not a Quorum database"):
            db.ensure_schema()
    finally:
        db.dispose()


def test_upgrade_works_from_any_working_directory(
    empty_sqlite_url: str, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    db = Database(empty_sqlite_url)
    try:
        db.upgrade()
        assert db.current_revision() == db.head_revision()
    finally:
        db.dispose()


def test_ensure_schema_refuses_a_database_from_a_newer_quorum(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        db.upgrade("0001_initial")
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
        with pytest.raises(StorageError, match="9999_future"):
            db.ensure_schema()
    finally:
        db.dispose()


@pytest.mark.postgres
def test_two_processes_starting_at_once_migrate_once(empty_postgres_url: str) -> None:
    first, second = Database(empty_postgres_url), Database(empty_postgres_url)
    results: list[bool] = []
    errors: list[BaseException] = []

    def start(db: Database) -> None:
        try:
            results.append(db.ensure_schema())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(db,)) for db in (first, second)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert True in results
        assert first.current_revision() == first.head_revision()
    finally:
        first.dispose()
        second.dispose()


def test_runs_stored_before_prompts_were_kept_upgrade_without_one(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        db.upgrade("0004_jobs")
        run = panel_run()
        c = consensus_for(run)
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO panel_runs (created_at, finished_at, question, origin, requester,"
                    " config_hash, quorum, status, confidence, raw_confidence, calibrator_id,"
                    " reason, clusters, features, latency_ms) VALUES (:t, :t, :q, 'cli', 'me',"
                    " 'h', 2, 'ok', :c, :c, 'cal', '', '[]', '{}', 5)"
                ),
                {"t": run.started_at, "q": run.question, "c": c.confidence},
            )
        db.upgrade()  # through 0005 (no prompt) and 0010 (no workspace: unassigned)
        with db.session() as s:
            (stored,) = [repo.get_run(s, 1, workspace=UNASSIGNED)]
        assert stored is not None and stored.question == run.question and stored.prompt is None
        db.downgrade("0004_jobs")
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT question FROM panel_runs")).scalar() == run.question
    finally:
        db.dispose()


_OLD_CASE = """INSERT INTO cases (id, case_set, status, question, input, expected, checks, rubric,
 severity, tags, source, merged_count, created_at, updated_at) VALUES (:id, 'golden', 'active',
 'q?', '{"question": "q?", "context": []}', :expected, :checks, :rubric, 'high', '["t"]',
 'manual', 0, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"""


def test_cases_keep_every_check_as_assertions_through_0006(empty_db_url: str) -> None:
    """A database at 0005 with cases holding every old check kind → upgrade → the same
    checks as typed assertions, scoring the same; → downgrade → the old columns back."""

    full = {
        "must_include": ["Canberra", "ACT"],
        "must_not_include": ["Sydney"],
        "regex": r"\bCanberra\b",
        "json_schema": {"type": "object"},
        "numeric": {"value": 1913.0, "tolerance": 0.0, "relative": False},
    }
    empty = {
        "must_include": [],
        "must_not_include": [],
        "regex": None,
        "json_schema": {},
        "numeric": None,
    }
    db = Database(empty_db_url)
    try:
        db.upgrade("0005_run_prompts")
        with db.engine.begin() as conn:
            for case_id, checks, rubric, expected in (
                ("full", full, "names the capital", "Canberra"),
                ("empty", empty, None, None),
                ("nothing", dict.fromkeys(full), None, None),
            ):
                conn.execute(
                    text(_OLD_CASE),
                    {
                        "id": case_id,
                        "checks": json.dumps(checks),
                        "rubric": rubric,
                        "expected": expected,
                    },
                )
        db.upgrade()  # through 0006 (assertions) and 0010 (unassigned)
        with db.session() as s:
            upgraded = case_repo.require_case(s, "full", workspace=UNASSIGNED)
            bare = case_repo.require_case(s, "empty", workspace=UNASSIGNED)
            assert case_repo.require_case(s, "nothing", workspace=UNASSIGNED).assertions == []
        assert [(a.type.value, a.value) for a in upgraded.assertions] == [
            ("icontains", "Canberra"),
            ("icontains", "ACT"),
            ("not-icontains", "Sydney"),
            ("regex", r"\bCanberra\b"),
            ("contains-json", {"type": "object"}),
            ("numeric", {"value": 1913.0, "tolerance": 0.0, "relative": False}),
            ("llm-rubric", "names the capital"),
        ]
        assert upgraded.expected == "Canberra" and upgraded.threshold is None
        assert [(a.type.value, a.value) for a in bare.assertions] == [("contains-json", None)]
        # what the old fields accepted, the assertions accept (ignoring case, as before)
        good = '{"city": "Canberra, act", "founded": 1913}'
        scored = await_scored(score_answer(upgraded, good, ScorerSettings(expected_check="none")))
        assert scored.passed is True
        bad = '{"city": "Sydney"}'
        scored = await_scored(score_answer(upgraded, bad, ScorerSettings(expected_check="none")))
        assert scored.passed is False
        db.downgrade("0005_run_prompts")
        with db.engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT id, checks FROM cases")).all())
            rubric = conn.execute(text("SELECT rubric FROM cases WHERE id = 'full'")).scalar()
        loaded = {k: json.loads(v) if isinstance(v, str) else v for k, v in rows.items()}
        assert loaded["full"] == full and rubric == "names the capital"
        assert loaded["empty"] == empty
        assert loaded["nothing"] == {**empty, "json_schema": None}
    finally:
        db.dispose()


def await_scored(coro):  # type: ignore[no-untyped-def]

    return asyncio.run(coro)


def test_a_downgrade_that_would_lose_checks_is_refused(empty_db_url: str) -> None:
    db = Database(empty_db_url)
    try:
        db.upgrade()
        case = EvalCase(
            id="weighted",
            input=CaseInput(question="q?"),
            assertions=[{"type": "contains", "value": "x", "weight": 2}],
        )
        with db.session() as s:
            case_repo.add_cases(s, [redacted(case)], actor="t", workspace=TEAM_ID)
        with pytest.raises(Exception, match="weighted"):
            db.downgrade("0005_run_prompts")
        # PostgreSQL undoes the whole downgrade; SQLite keeps the steps before the refusal
        # (0010's among them, so the re-upgrade finds the case unassigned).
        kept_workspace = db.current_revision() == db.head_revision()
        assert db.current_revision() in (db.head_revision(), "0006_case_assertions")
        db.upgrade()
        owner = TEAM_ID if kept_workspace else UNASSIGNED
        with db.session() as s:
            assert (
                case_repo.require_case(s, "weighted", workspace=owner).assertions == case.assertions
            )
    finally:
        db.dispose()


def test_0007_keeps_twin_cases_of_one_run_and_unlinks_all_but_the_oldest(
    empty_db_url: str,
) -> None:
    """A database at 0006 holding the race's twins (two live cases from one run) upgrades:
    every case is kept, the oldest keeps the run, the younger twin is unlinked with an
    event naming the case it duplicates; afterwards the run takes no second live case."""

    db = Database(empty_db_url)
    try:
        db.upgrade()  # stored with today's code, then taken back to 0006 with the rows
        run = panel_run()
        with db.session() as s:
            run_id = repo.save_panel_run(
                s,
                run,
                consensus_for(run),
                origin=RunOrigin.CLI,
                requester="me",
                config_hash="h",
                workspace=TEAM_ID,
            )
            cases = [
                new_case(case_id, "q?", status=status, created_at=at, updated_at=at)
                for case_id, status, at in (
                    ("old", "proposed", "2026-01-01T00:00:00Z"),
                    ("young", "proposed", "2026-01-01T00:00:00.016Z"),
                    ("gone", "rejected", "2025-12-01T00:00:00Z"),
                )
            ]
            case_repo.add_cases(s, cases, actor="test", workspace=TEAM_ID)
        db.downgrade("0006_case_assertions")
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE cases SET source_run_id = :r"), {"r": run_id})
        db.upgrade()
        with db.session() as s:
            assert case_repo.source_run_id(s, "old", workspace=UNASSIGNED) == run_id
            assert case_repo.source_run_id(s, "gone", workspace=UNASSIGNED) == run_id
            assert case_repo.source_run_id(s, "young", workspace=UNASSIGNED) is None
            (unlinked,) = [
                e
                for e in case_repo.case_events(s, "young", workspace=UNASSIGNED)
                if e.action == "unlinked"
            ]
            assert unlinked.detail == {"run_id": run_id, "duplicate_of": "old"}
            assert (
                case_repo.require_case(s, "young", workspace=UNASSIGNED).status.value == "proposed"
            )
        with pytest.raises(IntegrityError), db.engine.begin() as conn:
            conn.execute(
                text("UPDATE cases SET source_run_id = :r WHERE id = 'young'"), {"r": run_id}
            )
        db.downgrade("0006_case_assertions")
        with db.engine.begin() as conn:
            conn.execute(
                text("UPDATE cases SET source_run_id = :r WHERE id = 'young'"), {"r": run_id}
            )
    finally:
        db.dispose()
