"""The case repository on SQLite and PostgreSQL: propose/merge, review, golden versions,
rotation, listing, import, active cases and the dataset version."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from evals.cases.assertions import Assertion, AssertionType
from evals.cases.redaction import RedactedCase, redacted
from evals.cases.schema import CaseInput, CaseSet, CaseSource, CaseStatus, EvalCase, Severity
from evals.cases.sets import EMPTY_SET_VERSION, RotationPolicy
from evals.errors import InputError
from storage import case_repo as repo
from storage.db import Database
from storage.panel_runs_repo import save_panel_run
from storage.records import RunOrigin
from storage.tables.cases import CaseRow
from storage.tables.panel_runs import PanelRunRow
from tests.fakes.embedder import FakeEmbedder, RendezvousEmbedder
from tests.fakes.slack_requests import TEAM_ID
from tests.storage.factories import consensus_for, panel_run

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def new_case(case_id: str, question: str, **kw: object) -> RedactedCase:
    return redacted(
        EvalCase.model_validate(
            {
                "id": case_id,
                "input": CaseInput(question=question),
                "created_at": T0,
                "updated_at": T0,
                **kw,
            }
        )
    )


def store_run(db: Database, question: str = "What is the capital of France?") -> int:
    run = panel_run(question=question)
    with db.session() as s:
        return save_panel_run(
            s,
            run,
            consensus_for(run),
            origin=RunOrigin.SLACK,
            requester="U1",
            config_hash="h",
            workspace=TEAM_ID,
        )


def test_propose_then_approve_into_golden_changes_the_version(db: Database) -> None:
    emb = FakeEmbedder()
    run_id = store_run(db)
    with db.session() as s:
        before = repo.dataset_version(s, CaseSet.GOLDEN, workspace=TEAM_ID)
        result = repo.propose_case(
            s,
            new_case(
                "c1", "What is the capital of France?", source=CaseSource.PRODUCTION, tags=["geo"]
            ),
            emb,
            actor="U1",
            source_run_id=run_id,
            now=T0,
            workspace=TEAM_ID,
        )
    assert not result.merged and result.case.status is CaseStatus.PROPOSED
    assert before == EMPTY_SET_VERSION
    with db.session() as s:
        page = repo.list_cases(s, status=CaseStatus.PROPOSED, workspace=TEAM_ID)
        assert [c.id for c in page.cases] == ["c1"] and page.total == 1 and not page.has_more
        assert repo.source_run_id(s, "c1", workspace=TEAM_ID) == run_id
        approved = repo.approve_case(
            s, "c1", CaseSet.GOLDEN, actor="U9", now=T0 + timedelta(hours=1), workspace=TEAM_ID
        )
    assert approved.status is CaseStatus.ACTIVE and approved.set is CaseSet.GOLDEN
    with db.session() as s:
        active = repo.active_cases(s, CaseSet.GOLDEN, workspace=TEAM_ID)
        assert [c.id for c in active] == ["c1"] and active[0].tags == ["geo"]
        assert active[0].created_at == T0 and active[0].created_at.tzinfo is not None
        after = repo.dataset_version(s, CaseSet.GOLDEN, workspace=TEAM_ID)
        assert after != before
        assert repo.dataset_version(s, CaseSet.ROTATING, workspace=TEAM_ID) == EMPTY_SET_VERSION
        assert [e.action for e in repo.case_events(s, "c1", workspace=TEAM_ID)] == [
            "proposed",
            "approved",
        ]
        assert repo.case_events(s, "c1", workspace=TEAM_ID)[1].actor == "U9"


def test_repeat_signals_and_near_duplicates_merge_and_count(db: Database) -> None:
    emb = FakeEmbedder()
    run_id = store_run(db)
    with db.session() as s:
        repo.propose_case(
            s,
            new_case("c1", "How do I reset my VPN password?"),
            emb,
            actor="U1",
            source_run_id=run_id,
            now=T0,
            workspace=TEAM_ID,
        )
        # a correction on the same run: fills the expected answer
        same = repo.propose_case(
            s,
            new_case(
                "c2", "How do I reset my VPN password?", expected="Use the self-service portal"
            ),
            emb,
            actor="U2",
            source_run_id=run_id,
            now=T0,
            workspace=TEAM_ID,
        )
        # the same question in other words, from another run
        para = repo.propose_case(
            s,
            new_case("c3", "how do i reset my vpn password please"),
            emb,
            actor="U3",
            threshold=0.8,
            now=T0,
            workspace=TEAM_ID,
        )
        # a different question
        other = repo.propose_case(
            s,
            new_case("c4", "Why is the build slow on Mondays?"),
            emb,
            actor="U4",
            threshold=0.8,
            now=T0,
            workspace=TEAM_ID,
        )
    assert (
        same.merged and same.case.id == "c1" and same.case.expected == "Use the self-service portal"
    )
    assert (
        para.merged
        and para.case.id == "c1"
        and para.similarity is not None
        and para.similarity >= 0.8
    )
    assert not other.merged
    with db.session() as s:
        c1 = repo.require_case(s, "c1", workspace=TEAM_ID)
        assert c1.merged_count == 2
        assert (
            repo.get_case(s, "c2", workspace=TEAM_ID) is None
            and repo.get_case(s, "c3", workspace=TEAM_ID) is None
        )
        assert [e.action for e in repo.case_events(s, "c1", workspace=TEAM_ID)] == [
            "proposed",
            "merged",
            "merged",
        ]
        # cached embeddings: stored once per case
        assert all(
            r.embedding_model == "fake-hashed-bag-of-words" for r in s.scalars(select(CaseRow))
        )


def test_rejected_and_retired_cases_do_not_absorb_duplicates(db: Database) -> None:
    emb = FakeEmbedder()
    with db.session() as s:
        repo.propose_case(
            s,
            new_case("c1", "Where is the on-call rota?"),
            emb,
            actor="U1",
            now=T0,
            workspace=TEAM_ID,
        )
        repo.reject_case(
            s, "c1", actor="U9", reason="not a model problem", now=T0, workspace=TEAM_ID
        )
        again = repo.propose_case(
            s,
            new_case("c2", "Where is the on-call rota?"),
            emb,
            actor="U1",
            now=T0,
            workspace=TEAM_ID,
        )
    assert not again.merged and again.case.id == "c2"


def test_editing_a_golden_case_creates_a_new_version(db: Database) -> None:
    emb = FakeEmbedder()
    with db.session() as s:
        repo.propose_case(
            s,
            new_case("g1", "Default PostgreSQL port?", expected="5432"),
            emb,
            actor="U1",
            now=T0,
            workspace=TEAM_ID,
        )
        repo.approve_case(s, "g1", CaseSet.GOLDEN, actor="U9", now=T0, workspace=TEAM_ID)
        v1 = repo.dataset_version(s, CaseSet.GOLDEN, workspace=TEAM_ID)
    with db.session() as s:
        result = repo.edit_case(
            s,
            "g1",
            {"assertions": [Assertion(type=AssertionType.ICONTAINS, value="5432")]},
            actor="U9",
            now=T0 + timedelta(days=1),
            workspace=TEAM_ID,
        )
    assert result.new_version
    new_id = result.case.id
    with db.session() as s:
        old, new = (
            repo.require_case(s, "g1", workspace=TEAM_ID),
            repo.require_case(s, new_id, workspace=TEAM_ID),
        )
        assert old.status is CaseStatus.RETIRED and old.assertions == []
        assert (
            new.status is CaseStatus.ACTIVE
            and new.previous_id == "g1"
            and [a.value for a in new.assertions] == ["5432"]
        )
        assert [c.id for c in repo.active_cases(s, CaseSet.GOLDEN, workspace=TEAM_ID)] == [new_id]
        assert repo.dataset_version(s, CaseSet.GOLDEN, workspace=TEAM_ID) != v1
        assert [e.action for e in repo.case_events(s, new_id, workspace=TEAM_ID)] == ["versioned"]
        with pytest.raises(InputError, match="retired cases cannot be edited"):
            repo.edit_case(s, "g1", {"expected": "x"}, actor="U9", workspace=TEAM_ID)


def test_editing_a_proposed_case_changes_it_in_place(db: Database) -> None:
    emb = FakeEmbedder()
    with db.session() as s:
        repo.propose_case(
            s, new_case("p1", "Deploy freeze dates?"), emb, actor="U1", now=T0, workspace=TEAM_ID
        )
        result = repo.edit_case(
            s,
            "p1",
            {
                "expected": "Dec 20 to Jan 3",
                "severity": "high",
                "tags": ["release"],
                "category": "outdated",
            },
            actor="U9",
            now=T0 + timedelta(minutes=3),
            workspace=TEAM_ID,
        )
    assert not result.new_version
    with db.session() as s:
        p1 = repo.require_case(s, "p1", workspace=TEAM_ID)
    assert (p1.expected, p1.severity, p1.tags, p1.category) == (
        "Dec 20 to Jan 3",
        Severity.HIGH,
        ["release"],
        "outdated",
    )
    assert p1.updated_at == T0 + timedelta(minutes=3)


def test_state_rules(db: Database) -> None:
    emb = FakeEmbedder()
    with db.session() as s:
        repo.propose_case(s, new_case("c1", "q one"), emb, actor="U1", now=T0, workspace=TEAM_ID)
        repo.approve_case(s, "c1", CaseSet.ROTATING, actor="U9", workspace=TEAM_ID)
        with pytest.raises(repo.CaseStateError, match="only proposed cases can be approved"):
            repo.approve_case(s, "c1", CaseSet.GOLDEN, actor="U9", workspace=TEAM_ID)
        with pytest.raises(repo.CaseStateError, match="only proposed cases can be rejected"):
            repo.reject_case(s, "c1", actor="U9", workspace=TEAM_ID)
        repo.retire_case(s, "c1", actor="U9", reason="obsolete", workspace=TEAM_ID)
        with pytest.raises(repo.CaseStateError, match="already retired"):
            repo.retire_case(s, "c1", actor="U9", workspace=TEAM_ID)
        with pytest.raises(repo.CaseNotFoundError, match="no case with id 'nope'"):
            repo.approve_case(s, "nope", CaseSet.GOLDEN, actor="U9", workspace=TEAM_ID)


def test_rotation_retires_stale_rotating_cases(db: Database) -> None:
    cases = [
        new_case(
            f"r{i}",
            f"rotating question {i}",
            set=CaseSet.ROTATING,
            status=CaseStatus.ACTIVE,
            created_at=T0 - timedelta(days=10 * i),
            updated_at=T0,
        )
        for i in range(5)
    ] + [
        new_case(
            "g",
            "golden question",
            set=CaseSet.GOLDEN,
            status=CaseStatus.ACTIVE,
            created_at=T0 - timedelta(days=900),
        )
    ]
    with db.session() as s:
        repo.add_cases(s, cases, actor="test", now=T0, workspace=TEAM_ID)
        v_before = repo.dataset_version(s, CaseSet.ROTATING, workspace=TEAM_ID)
        policy = RotationPolicy(max_age_days=35, max_count=3)
        planned = repo.rotate_cases(s, policy, actor="cli", now=T0, dry_run=True, workspace=TEAM_ID)
        assert [c.id for c in planned] == ["r4", "r3"] and planned[0].status is CaseStatus.ACTIVE
    with db.session() as s:
        done = repo.rotate_cases(s, policy, actor="cli", now=T0, workspace=TEAM_ID)
    assert [c.id for c in done] == ["r4", "r3"] and all(
        c.status is CaseStatus.RETIRED for c in done
    )
    with db.session() as s:
        assert [c.id for c in repo.active_cases(s, CaseSet.ROTATING, workspace=TEAM_ID)] == [
            "r0",
            "r1",
            "r2",
        ]
        assert [c.id for c in repo.active_cases(s, CaseSet.GOLDEN, workspace=TEAM_ID)] == ["g"]
        assert repo.dataset_version(s, CaseSet.ROTATING, workspace=TEAM_ID) != v_before
        assert repo.case_events(s, "r4", workspace=TEAM_ID)[-1].action == "rotated"


def test_list_pagination_and_filters(db: Database) -> None:
    cases = [
        new_case(
            f"c{i:02d}",
            f"question {i}",
            created_at=T0 + timedelta(minutes=i),
            category="wrong_fact" if i % 2 else "format",
            tags=["a"] if i < 3 else ["b"],
            status=CaseStatus.ACTIVE if i >= 5 else CaseStatus.PROPOSED,
        )
        for i in range(12)
    ]
    with db.session() as s:
        repo.add_cases(s, cases, actor="test", now=T0, workspace=TEAM_ID)
        first = repo.list_cases(s, status=CaseStatus.ACTIVE, limit=4, workspace=TEAM_ID)
        second = repo.list_cases(s, status=CaseStatus.ACTIVE, limit=4, offset=4, workspace=TEAM_ID)
        assert (
            [c.id for c in first.cases] == ["c11", "c10", "c09", "c08"]
            and first.total == 7
            and first.has_more
        )
        assert [c.id for c in second.cases] == ["c07", "c06", "c05"] and not second.has_more
        assert repo.list_cases(s, workspace=TEAM_ID).total == 12
        assert [c.id for c in repo.active_cases(s, categories=["format"], workspace=TEAM_ID)] == [
            "c06",
            "c08",
            "c10",
        ]
        assert [c.id for c in repo.active_cases(s, tags=["a"], workspace=TEAM_ID)] == []
        assert len(repo.active_cases(s, CaseSet.ROTATING, tags=["b"], workspace=TEAM_ID)) == 7
        with pytest.raises(InputError):
            repo.list_cases(s, limit=0, workspace=TEAM_ID)


def test_import_is_all_or_nothing(db: Database) -> None:
    with db.session() as s:
        repo.add_cases(s, [new_case("a", "qa")], actor="test", workspace=TEAM_ID)
    with db.session() as s, pytest.raises(InputError, match="1 case id\\(s\\) already exist: a"):
        repo.add_cases(
            s, [new_case("b", "qb"), new_case("a", "qa again")], actor="test", workspace=TEAM_ID
        )
    with db.session() as s:
        assert repo.get_case(s, "b", workspace=TEAM_ID) is None
        added, skipped = repo.add_cases(
            s,
            [new_case("b", "qb"), new_case("a", "qa")],
            actor="t",
            skip_existing=True,
            workspace=TEAM_ID,
        )
        assert [c.id for c in added] == ["b"] and skipped == ["a"]
        assert [c.id for c in repo.all_cases(s, workspace=TEAM_ID)] == ["a", "b"]


def test_deleting_the_source_run_keeps_the_case(db: Database) -> None:
    run_id = store_run(db)
    with db.session() as s:
        repo.propose_case(
            s,
            new_case("c1", "q"),
            FakeEmbedder(),
            actor="U1",
            source_run_id=run_id,
            workspace=TEAM_ID,
        )
    with db.session() as s:
        s.delete(s.get(PanelRunRow, run_id))
    with db.session() as s:
        assert repo.get_case(s, "c1", workspace=TEAM_ID) is not None
        assert repo.source_run_id(s, "c1", workspace=TEAM_ID) is None


def test_two_concurrent_proposals_from_one_run_make_one_case(db: Database) -> None:
    """Two 👎 on one result, handled at the same moment in two threads (each with its own
    connection): both find no case for the run, both go on to insert; the database keeps
    one case and the other proposal is merged into it."""
    run_id = store_run(db)
    emb = RendezvousEmbedder(parties=2)
    results: list[repo.ProposeResult] = []
    errors: list[BaseException] = []

    def propose(case_id: str, actor: str) -> None:
        try:
            with db.session() as s:
                results.append(
                    repo.propose_case(
                        s,
                        new_case(case_id, "Where is the on-call rota?", tags=["thumbs-down"]),
                        emb,
                        actor=actor,
                        source_run_id=run_id,
                        now=T0,
                        workspace=TEAM_ID,
                    )
                )
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [
        threading.Thread(target=propose, args=("c1", "U1")),
        threading.Thread(target=propose, args=("c2", "U2")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert emb.met == 2, "the two proposals did not reach the insert together"
    assert sorted(r.merged for r in results) == [False, True]
    with db.session() as s:
        (row,) = s.scalars(select(CaseRow)).all()
        events = [e.action for e in repo.case_events(s, row.id, workspace=TEAM_ID)]
    assert row.source_run_id == run_id and row.merged_count == 1
    assert sorted(events) == ["merged", "proposed"]


def test_a_rejected_case_frees_its_run_for_a_new_case(db: Database) -> None:
    run_id = store_run(db)
    emb = FakeEmbedder()
    with db.session() as s:
        repo.propose_case(
            s, new_case("c1", "q one"), emb, actor="U1", source_run_id=run_id, workspace=TEAM_ID
        )
        repo.reject_case(s, "c1", actor="R", workspace=TEAM_ID)
    with db.session() as s:
        again = repo.propose_case(
            s,
            new_case("c2", "a different question"),
            emb,
            actor="U2",
            source_run_id=run_id,
            workspace=TEAM_ID,
        )
    assert not again.merged and again.case.id == "c2"
