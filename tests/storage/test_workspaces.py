"""Workspace ownership in storage: the 0010 migration on a database with rows, claiming
unassigned rows, and deleting one workspace's data without touching another's."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from bot.compare.run_spool import BOT_HANDLERS
from evals.cases.redaction import redacted
from evals.cases.schema import CaseInput, EvalCase, FailureMode, Severity
from evals.errors import InputError
from storage import case_repo, job_repo, repo, workspace_repo
from storage.db import Database
from storage.records import CorrectionSource, RunOrigin, SignalKind, SignalSource
from storage.spool import Spool
from storage.tables.base import UNASSIGNED
from storage.tables.panel_runs import PanelRunRow
from storage.tables.workspaces import WorkspaceRow
from tests.bot.digest_seed import DIGEST_FIRE, seed_eval_run, seed_production
from tests.fakes.embedder import FakeEmbedder
from tests.storage.factories import T0, consensus_for, panel_run

A, B = "T0ALPHA", "T0BRAVO"


def _run(db: Database, workspace: str, *, team_id: str | None, question: str) -> int:
    run = panel_run(question=question)
    with db.session() as s:
        run_id = repo.save_panel_run(
            s,
            run,
            consensus_for(run),
            workspace=workspace,
            origin=RunOrigin.SLACK,
            requester="U1",
            config_hash="h",
            team_id=team_id,
            channel_id="C1",
            message_ts=f"17000000{len(question)}.000100",
        )
        stored = repo.get_run(s, run_id, workspace=workspace)
        assert stored is not None
        first = stored.answers[0].id
        repo.record_signal(
            s,
            workspace=workspace,
            run_id=run_id,
            user_id="U1",
            kind=SignalKind.DOWN,
            source=SignalSource.REACTION,
        )
        repo.record_correction(
            s,
            workspace=workspace,
            run_id=run_id,
            user_id="U2",
            correct_answer="Lyon",
            failure_mode=FailureMode.WRONG_FACT,
            severity=Severity.HIGH,
            source=CorrectionSource.MODAL,
        )
        repo.record_vote(s, workspace=workspace, run_id=run_id, answer_id=first, user_id="U3")
        repo.claim_delivery(s, f"Ev-{question}", "event", workspace=workspace)
    return run_id


def _owners(db: Database, table: str) -> list[str]:
    with db.engine.connect() as conn:
        return sorted(conn.execute(text(f"SELECT workspace_id FROM {table}")).scalars())


def test_rows_stored_before_workspaces_get_their_run_s_team_or_wait_unassigned(
    empty_db_url: str,
) -> None:
    db = Database(empty_db_url)
    try:
        db.upgrade()
        # Rows as an older Quorum stored them: made now, then taken back to 0009, which
        # drops every workspace column (the team id a run recorded stays).
        known = _run(db, "X", team_id="T0OLD", question="Known team?")
        _run(db, "X", team_id=None, question="From the CLI?")
        with db.session() as s:
            case_repo.propose_case(
                s,
                redacted(EvalCase(id="from-run", input=CaseInput(question="Known team?"))),
                FakeEmbedder(),
                workspace="X",
                actor="U1",
                source_run_id=known,
            )
            case_repo.add_cases(
                s,
                [redacted(EvalCase(id="imported", input=CaseInput(question="Imported?")))],
                workspace="X",
                actor="cli",
            )
        seed_eval_run(db, T0, {"alpha": 1}, cases=2, workspace="X")
        assert job_repo.claim_period(db, "digest", "2026-W45", workspace="X", now=T0)
        db.downgrade("0010_slack_installations")
        db.upgrade()

        for table in ("panel_runs", "answers", "signals", "corrections", "votes"):
            owners = set(_owners(db, table))
            assert owners == {"T0OLD", UNASSIGNED}, table
        with db.session() as s:
            assert case_repo.get_case(s, "from-run", workspace="T0OLD") is not None
            assert case_repo.get_case(s, "imported", workspace=UNASSIGNED) is not None
            assert [e.action for e in case_repo.case_events(s, "from-run", workspace="T0OLD")] == [
                "proposed"
            ]
        for table in ("eval_runs", "eval_results", "job_runs", "deliveries"):
            assert set(_owners(db, table)) == {UNASSIGNED}, table

        with db.session() as s:
            claimed = workspace_repo.claim_unassigned(s, "T0NEW")
        assert claimed["panel_runs"] == 1 and claimed["cases"] == 1
        assert claimed["eval_results"] == 2 and claimed["job_runs"] == 1
        assert claimed["deliveries"] == 2
        with db.session() as s:
            assert workspace_repo.claim_unassigned(s, "T0NEW") == {}  # idempotent
            assert workspace_repo.workspaces_with_data(s) == ["T0NEW", "T0OLD"]
            assert s.get(WorkspaceRow, "T0NEW") is not None
        for table in ("panel_runs", "signals", "case_events", "eval_runs", "deliveries"):
            assert UNASSIGNED not in _owners(db, table), table
    finally:
        db.dispose()


def test_a_claim_fails_whole_and_refuses_bad_ids(db: Database) -> None:
    _run(db, UNASSIGNED, team_id=None, question="Old?")
    with pytest.raises(InputError), db.session() as s:
        workspace_repo.claim_unassigned(s, "not a team; DROP TABLE")
    with pytest.raises(RuntimeError), db.session() as s:
        assert workspace_repo.claim_unassigned(s, "T0HALF")["panel_runs"] == 1
        raise RuntimeError("the process died mid-claim")
    assert set(_owners(db, "panel_runs")) == {UNASSIGNED}


def _dump(db: Database, workspace: str) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """Every row ``workspace`` owns, table by table, in primary-key order."""
    out = []
    with db.session() as s:
        for table in (*workspace_repo.WORKSPACE_TABLES, WorkspaceRow.__table__):
            column = table.c.id if table.name == "workspaces" else table.c.workspace_id
            order = list(table.primary_key.columns)
            rows = s.execute(select(table).where(column == workspace).order_by(*order)).all()
            out.append((table.name, [tuple(r) for r in rows]))
    return out


def _seed(db: Database, workspace: str, label: str) -> None:
    seed_production(db, workspace=workspace, label=label)
    seed_eval_run(db, DIGEST_FIRE - timedelta(days=1), {"alpha": 3}, cases=3, workspace=workspace)
    job_repo.claim_period(db, "digest", "2026-W48", workspace=workspace, now=DIGEST_FIRE)
    job_repo.save_calibrator(
        db,
        workspace=workspace,
        calibrator_id="refit-1",  # the same id in both: each workspace keeps its own
        json_text=f'{{"of": "{workspace}"}}',
        created_at=DIGEST_FIRE,
        source="refit",
        n_labels=60,
        metrics={},
        active=True,
    )
    with db.session() as s:
        repo.claim_delivery(s, f"Ev-{workspace}", "event", workspace=workspace)
        workspace_repo.set_channel(s, workspace, purpose="digest", channel_id=f"C{label}")


def test_deleting_a_workspace_leaves_the_other_byte_for_byte(db: Database) -> None:
    _seed(db, A, "Alpha")
    _seed(db, B, "Bravo")
    before = _dump(db, B)
    assert all(rows for _, rows in before), [t for t, rows in before if not rows]

    with db.session() as s:
        deleted = workspace_repo.delete_workspace_data(s, A)

    assert deleted["panel_runs"] == 6 and deleted["answers"] > 6 and deleted["cases"] == 2
    assert deleted["eval_results"] == 3 and deleted["workspaces"] == 1
    assert _dump(db, B) == before
    assert all(not rows for _, rows in _dump(db, A))
    with db.session() as s, pytest.raises(InputError):
        workspace_repo.delete_workspace_data(s, UNASSIGNED)


def test_spooled_writes_keep_their_workspace_and_old_lines_stay_unassigned(
    sqlite_db: Database, tmp_path: Path
) -> None:
    run = panel_run(question="Spooled?")
    payload = {
        "run": run.to_dict(),
        "consensus": consensus_for(run).to_dict(),
        "kwargs": {"origin": "slack", "requester": "U1", "config_hash": "h", "channel_id": "C1"},
        "answer_messages": {},
    }
    spool = Spool(tmp_path / "spool.jsonl", BOT_HANDLERS)
    written_now = {
        **payload,
        "workspace": B,
        "kwargs": {**payload["kwargs"], "workspace": B, "message_ts": "1.1"},
    }
    spool.append("panel_run", written_now)
    spool.append("panel_run", {**payload, "kwargs": {**payload["kwargs"], "message_ts": "1.2"}})
    # feedback spooled behind B's run, found by its message in B only
    spool.append(
        "message_signal",
        {
            "workspace": B,
            "channel_id": "C1",
            "ts": "1.1",
            "user_id": "U1",
            "kind": "up",
            "source": "reaction",
            "removed": False,
            "replaces": None,
        },
    )
    report = spool.replay(sqlite_db)
    assert (report.applied, report.rejected) == (3, 0)
    with sqlite_db.session() as s:
        owners = sorted((r.message_ts, r.workspace_id) for r in s.scalars(select(PanelRunRow)))
        assert owners == [("1.1", B), ("1.2", UNASSIGNED)]
        (b_run,) = [r for r in s.scalars(select(PanelRunRow)) if r.workspace_id == B]
        assert [sig.kind for sig in repo.signals_for_run(s, b_run.id, workspace=B)] == ["up"]
