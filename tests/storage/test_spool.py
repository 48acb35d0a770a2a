"""The spool: writes made while the database is down are kept on disk and replayed once,
through the handlers the bot registers (``bot.compare.run_spool.BOT_HANDLERS``)."""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.compare.run_spool import BOT_HANDLERS
from evals.cases.schema import FailureMode, Severity
from storage import repo
from storage.db import Database
from storage.records import RunOrigin, StoredPanelRun
from storage.spool import EntryNotReady, Spool
from storage.tables.panel_runs import VoteRow
from tests.fakes.slack_requests import TEAM_ID
from tests.storage.factories import answer, consensus_for, panel_run


@pytest.fixture
def down() -> Iterator[Database]:
    """A database nobody is listening for: every write fails as unreachable."""
    database = Database("postgresql://quorum:pw@127.0.0.1:1/quorum?connect_timeout=1")
    yield database
    database.dispose()


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool" / "writes.jsonl", BOT_HANDLERS)


def _run(db: Database) -> StoredPanelRun:
    run = panel_run([answer("alpha"), answer("beta")])
    with db.session() as s:
        run_id = repo.save_panel_run(
            s,
            run,
            consensus_for(run),
            origin=RunOrigin.SLACK,
            requester="U0",
            config_hash="h",
            workspace=TEAM_ID,
        )
        stored = repo.get_run(s, run_id, workspace=TEAM_ID)
    assert stored is not None
    return stored


def _thumbs(run: StoredPanelRun, user: str = "U1") -> dict[str, object]:
    return {"run_id": run.id, "user_id": user, "kind": "up", "source": "reaction"}


def _correction(run: StoredPanelRun, text: str = "Lyon") -> dict[str, object]:
    return {
        "run_id": run.id,
        "user_id": "U2",
        "correct_answer": text,
        "failure_mode": FailureMode.WRONG_FACT.value,
        "severity": Severity.HIGH.value,
        "source": "modal",
    }


def test_spooled_time_is_when_it_happened(sqlite_db: Database, spool: Spool) -> None:
    run = _run(sqlite_db)
    spool.append("run_signal", {**_thumbs(run), "at": "2026-11-30T09:15:00+00:00"})
    spooled_at = json.loads(spool.path.read_text())["payload"]["at"]
    assert spool.replay(sqlite_db).applied == 1
    with sqlite_db.session() as s:
        (signal,) = repo.signals_for_run(s, run.id, workspace=TEAM_ID)
    assert signal.created_at.isoformat() == spooled_at


def test_replay_applies_each_entry_once_even_when_repeated(
    sqlite_db: Database, spool: Spool
) -> None:
    run = _run(sqlite_db)
    spool.append("run_correction", _correction(run))
    copy = spool.path.read_text()
    assert spool.replay(sqlite_db).applied == 1
    # A crash after applying but before the spool was cleared leaves the entry behind.
    spool.path.write_text(copy)
    report = spool.replay(sqlite_db)
    assert (report.applied, report.duplicates, report.remaining) == (0, 1, 0)
    with sqlite_db.session() as s:
        assert len(repo.corrections_for_run(s, run.id, workspace=TEAM_ID)) == 1


def test_replay_while_still_down_keeps_everything_in_order(
    down: Database, spool: Spool, sqlite_db: Database
) -> None:
    run = _run(sqlite_db)
    spool.append("run_correction", _correction(run, "first"))
    spool.append("run_correction", _correction(run, "second"))
    report = spool.replay(down)
    assert (report.applied, report.remaining) == (0, 2)
    spool.append("run_correction", _correction(run, "third"))
    assert report.rejected == 0
    assert spool.replay(sqlite_db).applied == 3
    with sqlite_db.session() as s:
        texts = [c.correct_answer for c in repo.corrections_for_run(s, run.id, workspace=TEAM_ID)]
    assert texts == ["first", "second", "third"]


def test_entries_that_can_never_apply_are_set_aside(sqlite_db: Database, spool: Spool) -> None:
    run = _run(sqlite_db)
    spool.append("run_signal", {**_thumbs(run), "run_id": 4040})  # no such run
    spool.append("member_vote", {"run_id": run.id, "member": "nobody", "user_id": "U1"})
    with spool.path.open("a") as fh:
        fh.write('{"id": "x", "kind": "mystery", "payload": {}}\n')
        fh.write("not json at all\n")
    spool.append("run_signal", _thumbs(run))
    report = spool.replay(sqlite_db)
    assert (report.applied, report.rejected, report.remaining) == (1, 4, 0)
    assert spool.pending() == 0
    rejected = [json.loads(line) for line in spool.rejected_path.read_text().splitlines()]
    assert len(rejected) == 4
    assert "no spool handler for 'mystery'" in rejected[2]["reason"]
    with sqlite_db.session() as s:
        assert [x.user_id for x in repo.signals_for_run(s, run.id, workspace=TEAM_ID)] == ["U1"]


def test_a_torn_last_line_is_ignored(sqlite_db: Database, spool: Spool) -> None:
    run = _run(sqlite_db)
    spool.append("run_signal", _thumbs(run))
    with spool.path.open("a") as fh:
        fh.write('{"id": "torn", "kind": "sig')
    assert spool.pending() == 1
    assert spool.replay(sqlite_db).applied == 1


def test_only_one_replayer_at_a_time(sqlite_db: Database, spool: Spool) -> None:
    run = _run(sqlite_db)
    spool.append("run_signal", _thumbs(run))
    with open(spool._replay_lock_path, "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert spool.replay(sqlite_db).skipped is True
        fcntl.flock(held, fcntl.LOCK_UN)
    assert spool.pending() == 1
    assert spool.replay(sqlite_db).applied == 1


def test_empty_spool_replays_to_nothing(sqlite_db: Database, spool: Spool) -> None:
    report = spool.replay(sqlite_db)
    assert (report.applied, report.remaining, report.skipped) == (0, 0, False)


def test_an_entry_whose_run_comes_later_waits_for_it_then_is_rejected_in_time(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """Feedback spooled before its run is applied after the run (same pass or a later
    one); one whose run never comes is kept for ``defer_s`` and then rejected."""
    arrived: list[str] = []

    def needs(name: str) -> object:
        def handler(session: object, p: Mapping[str, Any]) -> object:
            if p["needs"] not in arrived:
                raise EntryNotReady(f"{p['needs']} has not arrived")
            return arrived.append(name) or True

        return handler

    def provide(session: object, p: Mapping[str, Any]) -> object:
        arrived.append(str(p["name"]))
        return True

    handlers = {"needs": needs("feedback"), "provide": provide}
    spool = Spool(tmp_path / "s.jsonl", handlers, defer_s=3600)  # type: ignore[arg-type]
    spool.append("needs", {"needs": "run-1"})
    spool.append("needs", {"needs": "run-2"})
    spool.append("provide", {"name": "run-1"})
    report = spool.replay(sqlite_db)
    assert (report.applied, report.rejected, report.remaining) == (2, 0, 1)
    assert arrived == ["run-1", "feedback"]
    assert spool.pending() == 1

    spool.defer_s = 0
    report = spool.replay(sqlite_db)
    assert (report.applied, report.rejected, report.remaining) == (0, 1, 0)
    assert "run-2 has not arrived" in spool.rejected_path.read_text()


def test_a_spool_left_by_the_earlier_version_still_replays(
    sqlite_db: Database, spool: Spool
) -> None:
    """Before 2026-11-30 the bot spooled ``signal``, ``retract_signal``, ``correction`` and
    ``vote`` entries; a file holding them, upgraded, replays into the database."""
    run = _run(sqlite_db)
    alpha = next(a for a in run.panel_answers if a.member == "alpha")
    spool.append("signal", {**_thumbs(run, "U1"), "answer_id": alpha.id})
    spool.append("signal", _thumbs(run, "U3"))
    spool.append("retract_signal", {"run_id": run.id, "user_id": "U3", "kind": "up"})
    spool.append("correction", _correction(run, "Lyon, really"))
    spool.append("vote", {"run_id": run.id, "answer_id": alpha.id, "user_id": "U4"})
    report = spool.replay(sqlite_db)
    assert (report.applied, report.rejected, report.remaining) == (5, 0, 0)
    with sqlite_db.session() as s:
        signals = repo.signals_for_run(s, run.id, include_retracted=True, workspace=TEAM_ID)
        assert [(x.user_id, x.answer_id, x.retracted_at is None) for x in signals] == [
            ("U1", alpha.id, True),
            ("U3", None, False),
        ]
        assert [
            c.correct_answer for c in repo.corrections_for_run(s, run.id, workspace=TEAM_ID)
        ] == ["Lyon, really"]
        votes = s.scalars(select(VoteRow).where(VoteRow.run_id == run.id)).all()
        assert [(v.answer_id, v.user_id) for v in votes] == [(alpha.id, "U4")]
