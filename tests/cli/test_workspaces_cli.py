"""The CLI with two workspaces in one database: `--workspace` picks one, nothing of A
reaches B's listings, exports, reports or digest; without it, a friendly refusal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner, Result

import bot.cli.digest  # noqa: F401  (registers `quorum digest`)
from bot.cli import app
from evals.cases.redaction import redacted
from evals.cases.schema import CaseInput, CaseStatus, EvalCase
from storage import case_repo
from storage.db import Database
from storage.tables.cases import CaseRow
from storage.tables.eval_runs import EvalRunRow
from storage.tables.panel_runs import PanelRunRow
from tests.bot.digest_seed import config_data, seed_eval_run, seed_production
from tests.fakes.slack_requests import TEAM_ID

A, B = TEAM_ID, "T0BRAVO"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """A database holding a week of A's and of B's data (no bot token: no Slack)."""
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path}/cli.db"
    config = tmp_path / "quorum.yaml"
    config.write_text(yaml.safe_dump(config_data()), encoding="utf-8")
    for name, value in {
        "DATABASE_URL": url,
        "QUORUM_CONFIG": str(config),
        "COLUMNS": "200",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    database = Database(url)
    database.upgrade()
    now = datetime.now(UTC)
    seed_production(database, week_end=now, workspace=A, label="Alpha ")
    seed_production(database, week_end=now, workspace=B, label="Bravo ")
    seed_eval_run(database, now - timedelta(days=1), {"alpha": 20, "beta": 17}, workspace=A)
    with database.session() as s:
        case_repo.add_cases(
            s,
            [
                redacted(
                    EvalCase(
                        id="alpha-golden",
                        input=CaseInput(question="Alpha golden?"),
                        status=CaseStatus.ACTIVE,
                    )
                )
            ],
            actor="test",
            workspace=A,
        )
    yield database
    database.dispose()


def quorum(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_without_workspace_the_cli_lists_the_choices_and_does_nothing(env: Database) -> None:
    for args in (
        ("cases", "list"),
        ("cases", "export", "-"),
        ("eval", "list"),
        ("digest", "--preview"),
    ):
        result = quorum(*args)
        assert result.exit_code == 2, (args, result.output)
        assert A in result.output and B in result.output and "--workspace" in result.output
        assert "Alpha" not in result.output and "Traceback" not in result.output


def test_b_s_listings_exports_and_digest_hold_nothing_of_a(env: Database, tmp_path: Path) -> None:
    listed = quorum("cases", "list", "--workspace", B, "--json")
    assert listed.exit_code == 0, listed.output
    assert "Bravo Proposed" in listed.stdout and "Alpha" not in listed.stdout

    path = tmp_path / "b.jsonl"
    exported = quorum("cases", "export", str(path), "--workspace", B, "--status", "all")
    assert exported.exit_code == 0, exported.output
    text = path.read_text(encoding="utf-8")
    assert "Bravo" in text and "Alpha" not in text

    runs = quorum("eval", "list", "--workspace", B)
    assert runs.exit_code == 0 and "No eval runs yet" in runs.output
    assert "alpha" in quorum("eval", "list", "--workspace", A).output

    digest = quorum("digest", "--preview", "--workspace", B, "--chart", str(tmp_path / "b.png"))
    assert digest.exit_code == 0, digest.output
    assert "Bravo Proposed" in digest.output and "Alpha" not in digest.output
    a_digest = quorum("digest", "--preview", "--workspace", A, "--chart", str(tmp_path / "a.png"))
    assert "eval 100%" in a_digest.output  # A's benchmark...
    assert "eval 100%" not in digest.output  # ...is not B's


def test_b_cannot_read_or_change_a_s_cases_or_reports(env: Database) -> None:
    with env.session() as s:
        (a_run,) = s.scalars(select(EvalRunRow.id)).all()
    for args in (
        ("cases", "show", "alpha-golden"),
        ("cases", "approve", "alphaprop-0", "--set", "golden"),
        ("cases", "reject", "alphaprop-1"),
        ("cases", "retire", "alpha-golden"),
        ("cases", "edit", "alpha-golden", "--expected", "B was here"),
    ):
        result = quorum(*args, "--workspace", B)
        assert result.exit_code == 2, (args, result.output)
        assert "no case with id" in result.output
    report = quorum("eval", "report", str(a_run), "--workspace", B)
    assert report.exit_code == 2 and "There is no eval run" in report.output
    with env.session() as s:
        statuses = {r.id: (r.status, r.expected) for r in s.scalars(select(CaseRow))}
    assert statuses["alphaprop-0"] == ("proposed", None)
    assert statuses["alphaprop-1"] == ("proposed", None)
    assert statuses["alpha-golden"] == ("active", None)


def test_an_import_goes_to_the_workspace_named(env: Database, tmp_path: Path) -> None:
    source = _case_file(tmp_path / "in.jsonl", "bravo-new", "Bravo new?")
    result = quorum("cases", "import", str(source), "--workspace", B)
    assert result.exit_code == 0, result.output
    with env.session() as s:
        assert s.scalars(select(CaseRow.workspace_id).where(CaseRow.id == "bravo-new")).all() == [B]
    bad = quorum("cases", "list", "--workspace", "T0 B; DROP")
    assert bad.exit_code == 2 and "not a workspace id" in bad.output


def test_a_case_id_is_one_workspace_s_so_b_may_use_one_a_uses(
    env: Database, tmp_path: Path
) -> None:
    """B imports a file with an id A already uses: not refused (a refusal would tell B
    which ids A has), stored as B's own case, and neither one's edits reach the other."""
    source = _case_file(tmp_path / "shared.jsonl", "alpha-golden", "Bravo's own question?")
    imported = quorum("cases", "import", str(source), "--workspace", B)
    assert imported.exit_code == 0, imported.output
    again = quorum("cases", "import", str(source), "--workspace", B)
    assert again.exit_code == 2 and "alpha-golden" in again.output  # B's own, already there

    edited = quorum("cases", "edit", "alpha-golden", "--expected", "Madrid", "--workspace", B)
    assert edited.exit_code == 0, edited.output
    shown_b = quorum("cases", "show", "alpha-golden", "--workspace", B).output
    shown_a = quorum("cases", "show", "alpha-golden", "--workspace", A).output
    assert "Bravo's own question?" in shown_b and "Madrid" in shown_b
    assert "Alpha golden?" in shown_a and "Madrid" not in shown_a and "Bravo" not in shown_a
    with env.session() as s:
        rows = s.scalars(select(CaseRow).where(CaseRow.id == "alpha-golden")).all()
        owners = {r.workspace_id: (r.question, r.expected) for r in rows}
        b_events = [e.action for e in case_repo.case_events(s, "alpha-golden", workspace=B)]
        a_events = [e.action for e in case_repo.case_events(s, "alpha-golden", workspace=A)]
    assert owners == {A: ("Alpha golden?", None), B: ("Bravo's own question?", "Madrid")}
    assert b_events == ["imported", "edited"]
    assert a_events == ["imported"]


def test_db_workspaces_and_assign_workspace(env: Database) -> None:
    with env.session() as s:
        s.execute(
            PanelRunRow.__table__.update()
            .where(PanelRunRow.workspace_id == B)
            .values(workspace_id="")
        )
    listed = quorum("db", "workspaces")
    assert listed.exit_code == 0 and A in listed.output and "unassigned" in listed.output
    assigned = quorum("db", "assign-workspace", "T0CHARLIE")
    assert assigned.exit_code == 0, assigned.output
    assert "Assigned to T0CHARLIE: panel_runs: 6" in assigned.output
    again = quorum("db", "assign-workspace", "T0CHARLIE")
    assert again.exit_code == 0 and "No unassigned rows" in again.output
    with env.session() as s:
        owners = set(s.scalars(select(PanelRunRow.workspace_id)))
    assert owners == {A, "T0CHARLIE"}


def _case_file(path: Path, case_id: str, question: str) -> Path:
    """A one-case JSONL file for `quorum cases import`."""
    path.write_text(
        json.dumps({"id": case_id, "input": {"question": question}}) + "\n", encoding="utf-8"
    )
    return path
