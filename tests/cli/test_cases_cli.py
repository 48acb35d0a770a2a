"""`quorum cases ...` end to end over a real SQLite file: output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

import bot.cli.cases.review  # noqa: F401  (registers `quorum cases`)
from bot.cli import app
from evals.cases.assertions import Assertion, AssertionType
from evals.cases.file_formats import CaseFormat, dump_cases
from evals.cases.redaction import redacted
from evals.cases.schema import CaseInput, CaseSet, CaseStatus, EvalCase
from evals.cases.sets import EMPTY_SET_VERSION
from storage import case_repo
from storage.db import Database
from storage.tables.base import UNASSIGNED
from tests.fakes.slack_requests import TEAM_ID

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path}/cli.db"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("QUORUM_CONFIG", str(tmp_path / "missing.yaml"))
    monkeypatch.setenv("COLUMNS", "200")
    database = Database(url)
    database.upgrade()
    yield database
    database.dispose()


def quorum(*args: str) -> Result:
    return CliRunner().invoke(app, ["cases", *args])


def seed(db: Database, *cases: EvalCase) -> None:
    with db.session() as s:
        case_repo.add_cases(s, [redacted(c) for c in cases], actor="test", workspace=TEAM_ID)


def case(case_id: str, question: str, **kw: object) -> EvalCase:
    return EvalCase.model_validate(
        {
            "id": case_id,
            "input": CaseInput(question=question),
            "created_at": T0,
            "updated_at": T0,
            **kw,
        }
    )


def test_list_show_approve_changes_the_version(env: Database) -> None:
    seed(env, case("c1", "What port does Redis use?", expected="6379", tags=["db"]))
    listed = quorum("list", "--status", "proposed")
    assert listed.exit_code == 0, listed.output
    assert "c1" in listed.stdout and "What port does Redis use?" in listed.stdout
    assert f"golden: 0 active, version {EMPTY_SET_VERSION[:12]}" in listed.stdout
    assert "Cases 1–1 of 1" in listed.stdout

    approved = quorum("approve", "c1", "--set", "golden")
    assert approved.exit_code == 0, approved.output
    assert "Approved 1 case(s) into golden: c1" in approved.stdout
    assert (
        "Before: golden: 0 active" in approved.stdout
        and "Now:    golden: 1 active" in approved.stdout
    )
    with env.session() as s:
        assert [c.id for c in case_repo.active_cases(s, CaseSet.GOLDEN, workspace=TEAM_ID)] == [
            "c1"
        ]

    shown = quorum("show", "c1")
    assert shown.exit_code == 0
    assert "golden / active" in shown.stdout and "6379" in shown.stdout
    assert "approved" in shown.stdout and "cli:" in shown.stdout
    as_json = json.loads(quorum("show", "c1", "--json").stdout)
    assert as_json["status"] == "active" and as_json["set"] == "golden"


def test_unknown_case_and_wrong_state_are_clear_errors(env: Database) -> None:
    seed(env, case("c1", "q1"))
    missing = quorum("show", "nope")
    assert missing.exit_code == 2 and "no case with id 'nope'" in missing.output
    assert quorum("approve", "c1", "--set", "rotating").exit_code == 0
    again = quorum("reject", "c1")
    assert again.exit_code == 2 and "only proposed cases can be rejected" in again.output
    bad_set = quorum("approve", "c1", "--set", "platinum")
    assert bad_set.exit_code == 2 and "platinum" in bad_set.output


def test_approve_many_is_all_or_nothing(env: Database) -> None:
    seed(env, case("a", "qa"), case("b", "qb"))
    result = quorum("approve", "a", "zzz", "--set", "rotating")
    assert result.exit_code == 2 and "zzz" in result.output
    with env.session() as s:
        assert case_repo.require_case(s, "a", workspace=TEAM_ID).status is CaseStatus.PROPOSED


def test_editing_golden_makes_a_new_version_and_proposed_in_place(env: Database) -> None:
    seed(
        env,
        case(
            "g",
            "Capital of Australia?",
            set=CaseSet.GOLDEN,
            status=CaseStatus.ACTIVE,
            expected="Sydney",
        ),
    )
    result = quorum(
        "edit", "g", "--expected", "Canberra", "--must-include", "Canberra", "--tag", "geo"
    )
    assert result.exit_code == 0, result.output
    assert "g is golden, so the edit is a new version: case-" in result.stdout
    with env.session() as s:
        (new,) = case_repo.active_cases(s, CaseSet.GOLDEN, workspace=TEAM_ID)
        assert new.previous_id == "g" and new.expected == "Canberra" and new.tags == ["geo"]
        assert case_repo.require_case(s, "g", workspace=TEAM_ID).status is CaseStatus.RETIRED
    seed(env, case("p", "q"))
    assert "Updated p." in quorum("edit", "p", "--severity", "high").stdout
    nothing = quorum("edit", "p")
    assert nothing.exit_code == 2 and "Nothing to change" in nothing.output
    bad = quorum("edit", "p", "--assert", "regex:(")
    assert bad.exit_code == 2 and "not a valid regular expression" in bad.output
    unknown = quorum("edit", "p", "--assert", "factuality:Paris")
    assert unknown.exit_code == 2 and "'factuality' is not supported" in unknown.output
    typed = quorum(
        "edit",
        "p",
        "--assert",
        "regex:^\\d+$",
        "--assert",
        '{"type": "similar", "value": "42", "threshold": 0.9, "weight": 2}',
        "--must-not-include",
        "maybe",
        "--threshold",
        "0.6",
    )
    assert typed.exit_code == 0, typed.output
    with env.session() as s:
        p = case_repo.require_case(s, "p", workspace=TEAM_ID)
    assert [a.describe() for a in p.assertions] == [
        "regex '^\\\\d+$'",
        "similar '42' ≥ 0.9 (weight 2)",
        "not-icontains 'maybe'",
    ]
    assert p.threshold == 0.6
    shown = quorum("show", "p")
    assert "similar '42' ≥ 0.9 (weight 2)" in shown.stdout and "0.6" in shown.stdout


def test_retire_and_rotate(env: Database) -> None:
    now = datetime.now(UTC)
    seed(
        env,
        *[
            case(
                f"r{i}",
                f"rotating {i}",
                set=CaseSet.ROTATING,
                status=CaseStatus.ACTIVE,
                created_at=now - timedelta(days=40 * i),
            )
            for i in range(4)
        ],
    )
    dry = quorum("rotate", "--max-age-days", "60", "--dry-run")
    assert dry.exit_code == 0 and "Would retire 2 case(s)" in dry.stdout and "r2" in dry.stdout
    with env.session() as s:
        assert len(case_repo.active_cases(s, CaseSet.ROTATING, workspace=TEAM_ID)) == 4
    done = quorum("rotate", "--max-age-days", "60", "--max-count", "1")
    assert done.exit_code == 0 and "Retired 3 case(s)" in done.stdout
    assert "Now:    rotating: 1 active" in done.stdout
    retired = quorum("retire", "r0", "--reason", "obsolete")
    assert retired.exit_code == 0 and "rotating: 0 active" in retired.stdout


def test_export_import_round_trip_in_every_format(env: Database, tmp_path: Path) -> None:
    seed(
        env,
        case(
            "a",
            "Alpha question",
            status=CaseStatus.ACTIVE,
            expected="A",
            assertions=[{"type": "icontains", "value": "A", "weight": 2}],
            threshold=0.5,
        ),
        case(
            "b",
            "Beta question",
            status=CaseStatus.ACTIVE,
            set=CaseSet.GOLDEN,
            assertions=[
                {"type": "llm-rubric", "value": "be brief", "threshold": 0.75},
                {"type": "numeric", "value": {"value": 3, "tolerance": 0.1, "relative": True}},
            ],
        ),
        case("p", "still proposed"),
    )
    for fmt, name in (("jsonl", "out.jsonl"), ("yaml", "out.yaml"), ("promptfoo", "pf.yaml")):
        path = tmp_path / name
        result = quorum("export", str(path), "--format", fmt)
        assert result.exit_code == 0, result.output
        assert f"Wrote 2 case(s) to {path}" in result.stdout
        other_url = f"sqlite:///{tmp_path}/{fmt}.db"
        other = Database(other_url)
        other.upgrade()
        try:
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("DATABASE_URL", other_url)
                imported = quorum("import", str(path), "--format", fmt)
            assert imported.exit_code == 0, imported.output
            assert "Imported 2 case(s)" in imported.stdout
            with env.session() as s1, other.session() as s2:
                # a fresh database without a bot token: the import is unassigned
                assert case_repo.dataset_version(
                    s1, workspace=TEAM_ID
                ) == case_repo.dataset_version(s2, workspace=UNASSIGNED)
                assert case_repo.all_cases(
                    s1, status=CaseStatus.ACTIVE, workspace=TEAM_ID
                ) == case_repo.all_cases(s2, workspace=UNASSIGNED)
        finally:
            other.dispose()


def test_export_to_stdout_defaults_to_jsonl(env: Database) -> None:
    seed(env, case("a", "Alpha", status=CaseStatus.ACTIVE))
    result = quorum("export", "--status", "all")
    assert result.exit_code == 0
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == ["a"]
    bad = quorum("export", "--status", "sideways")
    assert bad.exit_code == 2 and "unknown status 'sideways'" in bad.output


def test_import_reports_every_error_and_stores_nothing(env: Database, tmp_path: Path) -> None:
    good = dump_cases([case("ok", "fine")], CaseFormat.JSONL)
    path = tmp_path / "bad.jsonl"
    path.write_text(good + "{oops\n" + json.dumps({"id": "x", "input": {"question": ""}}) + "\n")
    result = quorum("import", str(path))
    assert result.exit_code == 2
    assert "2 problems, nothing imported" in result.output
    assert "line 2: not valid JSON" in result.output and "line 3: input.question" in result.output
    with env.session() as s:
        assert case_repo.all_cases(s, workspace=TEAM_ID) == []


def test_import_redacts_by_default_and_can_override_status_and_set(
    env: Database, tmp_path: Path
) -> None:
    path = tmp_path / "tests.yaml"
    path.write_text(
        yaml.safe_dump(
            [
                {
                    "vars": {
                        "question": "Why can't ana@example.com use key sk-proj-Abc123def456ghi789jkl?"
                    },
                    "assert": [{"type": "contains", "value": "rotate"}],
                }
            ]
        )
    )
    result = quorum(
        "import", str(path), "--format", "promptfoo", "--status", "active", "--set", "golden"
    )
    assert result.exit_code == 0, result.output
    assert "Redacted personal data or secrets in 1 case(s)." in result.stdout
    with env.session() as s:
        (stored,) = case_repo.active_cases(s, CaseSet.GOLDEN, workspace=UNASSIGNED)
    assert stored.input.question == "Why can't <EMAIL_1> use key <API_KEY_1>?"
    assert stored.assertions == [Assertion(type=AssertionType.CONTAINS, value="rotate")]
    dup = quorum("import", str(path), "--format", "promptfoo")
    assert dup.exit_code == 2 and "already exist" in dup.output
    skipped = quorum("import", str(path), "--format", "promptfoo", "--skip-existing")
    assert skipped.exit_code == 0 and "Skipped 1 existing id(s)" in skipped.stdout


def test_import_dry_run_and_missing_file(env: Database, tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(dump_cases([case("a", "qa")], CaseFormat.JSONL))
    dry = quorum("import", str(path), "--dry-run")
    assert dry.exit_code == 0 and "1 valid case(s); nothing stored" in dry.stdout
    with env.session() as s:
        assert case_repo.all_cases(s, workspace=TEAM_ID) == []
    missing = quorum("import", str(tmp_path / "nope.jsonl"))
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_list_paginates(env: Database) -> None:
    seed(
        env,
        *[
            case(f"c{i:02d}", f"question {i}", created_at=T0 + timedelta(minutes=i))
            for i in range(25)
        ],
    )
    first = quorum("list", "--per-page", "10")
    assert "Cases 1–10 of 25 — next: --page 2" in first.stdout and "c24" in first.stdout
    last = quorum("list", "--per-page", "10", "--page", "3")
    assert "Cases 21–25 of 25" in last.stdout and "next" not in last.stdout
    lines = quorum("list", "--json", "--per-page", "3").stdout.splitlines()
    assert [json.loads(x)["id"] for x in lines] == ["c24", "c23", "c22"]


def test_list_fits_80_columns_without_cutting_words(
    env: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    question = (
        "Our API gets bursts of traffic: which status code should we return when a client "
        "sends too many requests, and how should the client honour Retry-After?"
    )
    seed(
        env,
        case("case-3f9a1c2b7d01", question, category="factual_error", tags=["api", "http"]),
    )
    listed = quorum("list")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, listed.stdout
    # every word of the question is there, whole, in order
    rows = [line.split("│") for line in lines if line.count("│") >= 3]
    cells = " ".join(row[3].strip() for row in rows)
    assert " ".join(question.split()) in " ".join(cells.split()), listed.stdout
    assert "case-3f9a1c2b7d01" in listed.stdout
    assert "category factual_error · api, http" in listed.stdout


def test_show_marks_the_answer_people_flagged(env: Database) -> None:
    observed = {
        "answers": [
            {"model": "alpha", "text": "Port 6379."},
            {"model": "gamma", "text": "Port 5432."},
        ],
        "consensus_model": "alpha",
        "confidence": 0.82,
        "flagged": ["gamma"],
    }
    seed(env, case("c1", "What port does Redis use?", observed=observed))
    shown = quorum("show", "c1")
    assert shown.exit_code == 0, shown.output
    rows = {
        line.split("│")[1].strip(): line for line in shown.stdout.splitlines() if "Port" in line
    }
    assert rows["gamma 👎 flagged"].count("Port 5432.") == 1
    assert "alpha" in rows and "flagged" not in rows["alpha"]
    assert "consensus: alpha (confidence 0.82)" in " ".join(shown.stdout.split())


def test_import_into_an_existing_database_from_a_fresh_process(
    env: Database, tmp_path: Path
) -> None:
    """A real `quorum cases import` process imports only the case tables' modules: the
    case table's foreign key into panel_runs must resolve all the same (it failed with
    "could not find table 'panel_runs'" on every database that was already migrated)."""

    cases = [{"vars": {"question": "What is the capital of France?"}, "assert": []}]
    flags = ["--format", "promptfoo", "--no-redact"]
    (tmp_path / "cases.yaml").write_text(yaml.safe_dump(cases), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "cases", "import", "cases.yaml", *flags],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with env.session() as s:
        stored = case_repo.list_cases(s, workspace=UNASSIGNED)
    assert [c.input.question for c in stored.cases] == ["What is the capital of France?"]
