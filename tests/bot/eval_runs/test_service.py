"""The eval-run service's seam for spreading work: a plan lists its work items, any
batch of them can be executed (here, or by another process over the same database),
recording is idempotent per item, and finishing builds the run from what was stored."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy import text

from bot.eval_runs.options import SetChoice
from bot.eval_runs.plan import EvalRunRequest
from bot.eval_runs.service import EvalRunService
from evals.cases.redaction import redacted
from evals.cases.schema import CaseInput, CaseSet, CaseStatus, EvalCase
from evals.errors import StorageError
from evals.records import ChatMessage, ModelAnswer, PanelMember
from evals.runs.report import RunStatus
from storage import case_repo, eval_repo
from storage.db import Database
from tests.bot.digest_seed import BENCHMARK_FIRE, ScriptedClient, make_services
from tests.fakes.slack_requests import TEAM_ID


def _add_cases(db: Database, n: int = 3) -> None:
    with db.session() as s:
        case_repo.add_cases(
            s,
            [
                redacted(
                    EvalCase(
                        id=f"math-{i}",
                        input=CaseInput(question=f"What is 6 x 7? ({i})"),
                        must_include=["42"],
                        status=CaseStatus.ACTIVE,
                        set=CaseSet.GOLDEN,
                    )
                )
                for i in range(n)
            ],
            actor="test",
            workspace=TEAM_ID,
        )


def _stored(db: Database, run_id: int) -> list[tuple[str, str, int, bool | None]]:
    with db.session() as s:
        return [(r.case_id, r.model, r.sample, r.passed) for r in eval_repo.results(s, run_id)]


async def test_work_items_run_in_batches_from_two_processes_and_finish_once(
    sqlite_db: Database,
) -> None:
    _add_cases(sqlite_db)
    client = ScriptedClient({"beta": "It is 43."})
    services = make_services(sqlite_db, client=client, now=BENCHMARK_FIRE)
    service = EvalRunService(services)
    plan = service.plan(
        EvalRunRequest(case_set=SetChoice.GOLDEN, samples=2, use_judge=False, workspace=TEAM_ID)
    )
    run_id = service.start(plan)
    assert service.start(plan) == run_id  # starting twice stores one run
    items = plan.pending_items()
    assert len(items) == plan.total == 3 * 4 * 2
    assert items[0].sample == 0 and items[-1].sample == 1

    # One worker takes the first half.
    await service.execute_items(plan, items[:10])
    assert len(client.calls) == 10
    assert sorted(_stored(sqlite_db, run_id)) == sorted(
        (i.case_id, i.model, i.sample, i.model != "beta") for i in items[:10]
    )

    # Another process plans the same run from the database: only the rest is pending.
    other = EvalRunService(make_services(sqlite_db, client=client, now=BENCHMARK_FIRE))
    resumed = other.resume(run_id, workspace=TEAM_ID)
    assert resumed.pending_items() == items[10:]
    await other.execute_items(resumed, resumed.pending_items())
    assert len(client.calls) == plan.total
    # An item delivered twice (a task queue's retry): a plan that knows it is done skips
    # it; one that does not asks again and replaces the row, never adds one.
    await other.execute_items(other.resume(run_id, workspace=TEAM_ID), items[:1])
    assert len(client.calls) == plan.total
    await service.execute_items(plan, items[:1])
    assert len(client.calls) == plan.total + 1
    assert len(_stored(sqlite_db, run_id)) == plan.total

    report = other.finish(resumed)
    assert report.status is RunStatus.COMPLETE and report.run_id == run_id
    with sqlite_db.session() as s:
        stored = eval_repo.load_report(s, run_id, workspace=TEAM_ID)
    assert stored.status is RunStatus.COMPLETE
    assert len(stored.results) == plan.total
    assert {r.model: r.passed for r in stored.results if r.sample == 0} == {
        "alpha": True,
        "beta": False,
        "gamma": True,
        "candidate": True,
    }


async def test_finishing_with_items_left_says_the_run_is_partial(sqlite_db: Database) -> None:
    _add_cases(sqlite_db, n=1)
    services = make_services(sqlite_db, client=ScriptedClient(), now=BENCHMARK_FIRE)
    service = EvalRunService(services)
    plan = service.plan(EvalRunRequest(samples=1, use_judge=False, workspace=TEAM_ID))
    await service.execute_items(plan, plan.pending_items()[:2])
    report = service.finish(plan)
    assert report.status is RunStatus.PARTIAL
    assert report.status_reason == "2 of 4 samples did not run (resume to finish)"
    assert [
        i.model for i in service.resume(plan.run_id or 0, workspace=TEAM_ID).pending_items()
    ] == [
        "gamma",
        "candidate",
    ]


class _AnswersThenHangs(ScriptedClient):
    """Answers the first ``answered`` calls at once; every later call never returns."""

    def __init__(self, answered: int, asked: int) -> None:
        super().__init__()
        self.answered = answered
        self.asked = asked
        self.all_asked = asyncio.Event()  # set once ``asked`` calls came in

    async def complete(self, member: PanelMember, messages: Sequence[ChatMessage]) -> ModelAnswer:
        if len(self.calls) >= self.answered:
            self.calls.append((member.name, tuple(messages)))
            if len(self.calls) >= self.asked:
                self.all_asked.set()
            await asyncio.Event().wait()
        return await super().complete(member, messages)


async def test_a_cancelled_run_has_stored_every_answer_it_received(sqlite_db: Database) -> None:
    """Results are written in batches from a writer thread; cancelling the run (what
    Ctrl-C does) still leaves every received answer stored, so a resume never pays twice."""
    _add_cases(sqlite_db, n=5)
    client = _AnswersThenHangs(answered=7, asked=10)
    service = EvalRunService(make_services(sqlite_db, client=client, now=BENCHMARK_FIRE))
    plan = service.plan(
        EvalRunRequest(samples=1, use_judge=False, concurrency=10, workspace=TEAM_ID)
    )
    run = asyncio.create_task(service.execute_items(plan))
    await client.all_asked.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert len(_stored(sqlite_db, plan.run_id or 0)) == 7
    assert (
        len(service.resume(plan.run_id or 0, workspace=TEAM_ID).pending_items()) == plan.total - 7
    )


async def test_a_failed_write_stops_the_run_instead_of_losing_results(
    sqlite_db: Database,
) -> None:
    _add_cases(sqlite_db, n=1)
    service = EvalRunService(make_services(sqlite_db, now=BENCHMARK_FIRE))
    plan = service.plan(EvalRunRequest(samples=1, use_judge=False, workspace=TEAM_ID))
    service.start(plan)
    with sqlite_db.session() as s:  # someone deletes the run while it runs
        s.execute(text("DELETE FROM eval_runs"))
    with pytest.raises(StorageError):
        await service.execute_items(plan)
