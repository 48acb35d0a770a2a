"""Signals, votes, corrections, delivery idempotency and production labels."""

from __future__ import annotations

import functools
import threading
from datetime import timedelta

import pytest
from sqlalchemy import text

from evals.cases.schema import FailureMode, Severity
from evals.errors import InputError, StorageError
from evals.records import ErrorKind
from storage import repo
from storage.db import Database
from storage.records import CorrectionSource, RunOrigin, SignalKind, SignalSource, StoredPanelRun
from tests.fakes.slack_requests import TEAM_ID
from tests.storage.factories import T0, answer, consensus_for, panel_run

UP, DOWN, FLAG = SignalKind.UP, SignalKind.DOWN, SignalKind.FLAG
REACTION, BUTTON = SignalSource.REACTION, SignalSource.BUTTON


def _stored_run(db: Database, *, started_offset_min: int = 0, members: int = 3) -> StoredPanelRun:
    names = ["alpha", "beta", "gamma"][:members]
    run = panel_run(
        [answer(n) for n in names], started_at=T0 + timedelta(minutes=started_offset_min)
    )
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


# -- deliveries ------------------------------------------------------------------------


def test_claim_delivery_is_true_only_the_first_time(db: Database) -> None:
    with db.session() as s:
        assert repo.claim_delivery(s, "Ev1", "event", workspace=TEAM_ID) is True
    with db.session() as s:
        assert repo.claim_delivery(s, "Ev1", "event", workspace=TEAM_ID) is False
        assert repo.claim_delivery(s, "Ev2", "event", workspace=TEAM_ID) is True


def test_claim_delivery_exactly_once_across_two_processes(db: Database) -> None:
    """Two Database objects (as two bot processes would have) race for the same keys."""
    other = Database(db.url.render_as_string(hide_password=False))
    keys = [f"Ev{i}" for i in range(6)]
    wins: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)
    lock = threading.Lock()

    def worker(n: int, database: Database) -> None:
        try:
            barrier.wait()
            for key in keys:
                with database.session() as s:
                    claimed = repo.claim_delivery(s, key, "event", workspace=TEAM_ID)
                if claimed:
                    with lock:
                        wins.append((n, key))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=(n, database))
        for n, database in enumerate([db, other, db, other])
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        other.dispose()
    assert errors == []
    assert sorted(key for _, key in wins) == keys


def test_claim_is_rolled_back_with_its_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError), db.session() as s:
        assert repo.claim_delivery(s, "Ev9", "event", workspace=TEAM_ID)
        raise RuntimeError("the panel could not start")
    with db.session() as s:
        assert repo.claim_delivery(s, "Ev9", "event", workspace=TEAM_ID) is True


def test_old_deliveries_are_pruned(db: Database) -> None:
    with db.session() as s:
        repo.claim_delivery(s, "old", "event", at=T0 - timedelta(days=2), workspace=TEAM_ID)
        repo.claim_delivery(s, "new", "event", at=T0, workspace=TEAM_ID)
    with db.session() as s:
        assert repo.prune_deliveries(s, T0 - timedelta(days=1)) == 1
    with db.session() as s:
        assert repo.claim_delivery(s, "old", "event", workspace=TEAM_ID) is True
        assert repo.claim_delivery(s, "new", "event", workspace=TEAM_ID) is False


# -- signals ---------------------------------------------------------------------------


def test_each_person_counts_once_per_message_and_signal(db: Database) -> None:
    run = _stored_run(db)
    beta = run.answers[1].id
    with db.session() as s:
        assert repo.record_signal(
            s, run_id=run.id, user_id="U1", kind=UP, source=REACTION, workspace=TEAM_ID
        )
        assert not repo.record_signal(
            s, run_id=run.id, user_id="U1", kind=UP, source=BUTTON, workspace=TEAM_ID
        )
        # a different message (an answer's reply), signal or person counts separately
        assert repo.record_signal(
            s,
            run_id=run.id,
            answer_id=beta,
            user_id="U1",
            kind=UP,
            source=REACTION,
            workspace=TEAM_ID,
        )
        assert repo.record_signal(
            s, run_id=run.id, user_id="U1", kind=FLAG, source=REACTION, workspace=TEAM_ID
        )
        assert repo.record_signal(
            s, run_id=run.id, user_id="U2", kind=UP, source=REACTION, workspace=TEAM_ID
        )
    with db.session() as s:
        active = repo.signals_for_run(s, run.id, workspace=TEAM_ID)
    assert [(x.answer_id, x.user_id, x.kind, x.source) for x in active] == [
        (None, "U1", UP, REACTION),
        (beta, "U1", UP, REACTION),
        (None, "U1", FLAG, REACTION),
        (None, "U2", UP, REACTION),
    ]
    assert all(x.active and x.created_at.tzinfo is not None for x in active)


def test_retraction_and_reactivation(db: Database) -> None:
    run = _stored_run(db)
    t1, t2, t3 = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2), T0 + timedelta(minutes=3)
    with db.session() as s:
        repo.record_signal(
            s, run_id=run.id, user_id="U1", kind=DOWN, source=REACTION, at=t1, workspace=TEAM_ID
        )
    with db.session() as s:
        assert repo.retract_signal(
            s, run_id=run.id, user_id="U1", kind=DOWN, at=t2, workspace=TEAM_ID
        )
        assert not repo.retract_signal(
            s, run_id=run.id, user_id="U1", kind=DOWN, at=t2, workspace=TEAM_ID
        )
        assert not repo.retract_signal(s, run_id=run.id, user_id="U9", kind=DOWN, workspace=TEAM_ID)
    with db.session() as s:
        assert repo.signals_for_run(s, run.id, workspace=TEAM_ID) == []
        (retracted,) = repo.signals_for_run(s, run.id, include_retracted=True, workspace=TEAM_ID)
    assert retracted.retracted_at == t2 and not retracted.active
    with db.session() as s:
        assert repo.record_signal(
            s, run_id=run.id, user_id="U1", kind=DOWN, source=BUTTON, at=t3, workspace=TEAM_ID
        )
    with db.session() as s:
        (again,) = repo.signals_for_run(s, run.id, include_retracted=True, workspace=TEAM_ID)
    assert again.id == retracted.id
    assert (again.active, again.created_at, again.source) == (True, t3, BUTTON)


def test_signal_on_an_unknown_run_is_refused(db: Database) -> None:
    with pytest.raises(StorageError), db.session() as s:
        repo.record_signal(s, run_id=999, user_id="U1", kind=UP, source=REACTION, workspace=TEAM_ID)


# -- corrections -----------------------------------------------------------------------


def test_corrections_are_stored(db: Database) -> None:
    run = _stored_run(db)
    with db.session() as s:
        saved = repo.record_correction(
            s,
            run_id=run.id,
            answer_id=run.answers[0].id,
            user_id="U1",
            correct_answer="  Paris, since 508 AD.  ",
            failure_mode=FailureMode.INCOMPLETE,
            severity=Severity.LOW,
            source=CorrectionSource.MODAL,
            at=T0,
            workspace=TEAM_ID,
        )
    with db.session() as s:
        (stored,) = repo.corrections_for_run(s, run.id, workspace=TEAM_ID)
    assert stored == saved
    assert stored.correct_answer == "Paris, since 508 AD."
    assert (stored.failure_mode, stored.severity, stored.source) == (
        FailureMode.INCOMPLETE,
        Severity.LOW,
        CorrectionSource.MODAL,
    )
    assert stored.created_at == T0


def test_empty_correction_is_a_friendly_error(db: Database) -> None:
    run = _stored_run(db)
    with pytest.raises(InputError, match="correct answer is empty"), db.session() as s:
        repo.record_correction(
            s,
            run_id=run.id,
            user_id="U1",
            correct_answer="   ",
            failure_mode=FailureMode.OTHER,
            severity=Severity.HIGH,
            source=CorrectionSource.THREAD,
            workspace=TEAM_ID,
        )


# -- votes -----------------------------------------------------------------------------


def test_a_new_vote_moves_the_users_vote(db: Database) -> None:
    run = _stored_run(db)
    alpha, beta, _ = (a.id for a in run.answers)
    with db.session() as s:
        first = repo.record_vote(
            s, run_id=run.id, answer_id=alpha, user_id="U1", at=T0, workspace=TEAM_ID
        )
        other = repo.record_vote(
            s, run_id=run.id, answer_id=alpha, user_id="U2", at=T0, workspace=TEAM_ID
        )
    with db.session() as s:
        moved = repo.record_vote(
            s,
            run_id=run.id,
            answer_id=beta,
            user_id="U1",
            at=T0 + timedelta(minutes=1),
            workspace=TEAM_ID,
        )
        same = repo.record_vote(s, run_id=run.id, answer_id=beta, user_id="U1", workspace=TEAM_ID)
    assert first.previous_answer_id is None and first.changed
    assert other.changed
    assert moved.previous_answer_id == alpha and moved.changed
    assert same.previous_answer_id == beta and not same.changed
    with db.session() as s:
        votes = repo.best_answer_votes(s, T0 - timedelta(days=1), workspace=TEAM_ID)
    assert sorted((v.user_id, v.chosen) for v in votes) == [("U1", "beta"), ("U2", "alpha")]
    assert all(v.candidates == ("alpha", "beta", "gamma") for v in votes)


def test_vote_for_an_answer_of_another_run_is_refused(db: Database) -> None:
    run_a = _stored_run(db)
    run_b = _stored_run(db, started_offset_min=1)
    with pytest.raises(InputError, match="does not belong"), db.session() as s:
        repo.record_vote(
            s, run_id=run_a.id, answer_id=run_b.answers[0].id, user_id="U1", workspace=TEAM_ID
        )


def test_vote_candidates_leave_out_failed_members(db: Database) -> None:
    run = panel_run([answer("alpha"), answer("beta"), answer("gamma", error=ErrorKind.TIMEOUT)])
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
        repo.record_vote(
            s, run_id=run_id, answer_id=stored.answers[1].id, user_id="U1", at=T0, workspace=TEAM_ID
        )
    with db.session() as s:
        (vote,) = repo.best_answer_votes(s, T0, workspace=TEAM_ID)
    assert (vote.chosen, vote.candidates) == ("beta", ("alpha", "beta"))


# -- production labels -----------------------------------------------------------------


def test_production_labels_from_thumbs_and_corrections(db: Database) -> None:
    liked, disliked, corrected, tied, unjudged, on_other = (
        _stored_run(db, started_offset_min=i) for i in range(6)
    )
    with db.session() as s:
        sig = functools.partial(repo.record_signal, workspace=TEAM_ID)
        sig(s, run_id=liked.id, user_id="U1", kind=UP, source=REACTION)
        sig(s, run_id=liked.id, user_id="U2", kind=UP, source=BUTTON)
        sig(s, run_id=liked.id, user_id="U3", kind=DOWN, source=REACTION)
        sig(s, run_id=liked.id, user_id="U4", kind=FLAG, source=REACTION)  # not a label
        # 👎 on the consensus member's own reply counts; a retracted 👍 does not
        sig(
            s,
            run_id=disliked.id,
            answer_id=disliked.answers[0].id,
            user_id="U1",
            kind=DOWN,
            source=REACTION,
        )
        sig(s, run_id=disliked.id, user_id="U2", kind=UP, source=REACTION)
        repo.retract_signal(s, run_id=disliked.id, user_id="U2", kind=UP, workspace=TEAM_ID)
        sig(s, run_id=corrected.id, user_id="U1", kind=UP, source=REACTION)
        repo.record_correction(
            s,
            run_id=corrected.id,
            user_id="U2",
            correct_answer="Lyon",
            failure_mode=FailureMode.WRONG_FACT,
            severity=Severity.HIGH,
            source=CorrectionSource.THREAD,
            workspace=TEAM_ID,
        )
        sig(s, run_id=tied.id, user_id="U1", kind=UP, source=REACTION)
        sig(s, run_id=tied.id, user_id="U2", kind=DOWN, source=REACTION)
        # a 👎 on a dissenting member's reply says nothing about the consensus
        sig(
            s,
            run_id=on_other.id,
            answer_id=on_other.answers[2].id,
            user_id="U1",
            kind=DOWN,
            source=REACTION,
        )
    with db.session() as s:
        labels = {label.run_id: label for label in repo.production_labels(s, workspace=TEAM_ID)}
        later = repo.production_labels(s, since=T0 + timedelta(minutes=2), workspace=TEAM_ID)
    assert set(labels) == {liked.id, disliked.id, corrected.id}
    assert (labels[liked.id].ups, labels[liked.id].downs, labels[liked.id].correct) == (2, 1, True)
    assert (labels[disliked.id].ups, labels[disliked.id].downs) == (0, 1)
    assert labels[disliked.id].correct is False
    assert (labels[corrected.id].corrections, labels[corrected.id].correct) == (1, False)
    assert labels[liked.id].features["cohesion"] == pytest.approx(0.93)
    assert labels[liked.id].raw_confidence == pytest.approx(0.9)
    assert labels[liked.id].calibrator_id == "isotonic-test-1"
    # The label judges every member that gave the consensus answer (its cluster).
    members = tuple(a.member for a in liked.answers if a.ok)
    assert labels[liked.id].agreeing == members
    assert [label.run_id for label in later] == [corrected.id]
    assert unjudged.id not in labels


def test_every_failure_mode_and_severity_is_accepted_and_others_are_not(db: Database) -> None:
    """The CHECK constraints in the migration keep up with the enums in evals."""
    run = _stored_run(db)
    with db.session() as s:
        for mode in FailureMode:
            for severity in Severity:
                repo.record_correction(
                    s,
                    run_id=run.id,
                    user_id="U1",
                    correct_answer="x",
                    failure_mode=mode,
                    severity=severity,
                    source=CorrectionSource.MODAL,
                    workspace=TEAM_ID,
                )
    with db.session() as s:
        assert len(repo.corrections_for_run(s, run.id, workspace=TEAM_ID)) == len(
            FailureMode
        ) * len(Severity)
    with pytest.raises(StorageError), db.session() as s:
        s.execute(
            text(
                "INSERT INTO corrections (run_id, user_id, correct_answer, failure_mode,"
                " severity, source, created_at)"
                " VALUES (:run, 'U1', 'x', 'bogus', 'low', 'modal', CURRENT_TIMESTAMP)"
            ),
            {"run": run.id},
        )
