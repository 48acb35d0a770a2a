"""People first across processes: the web process records people's demand in the
database, a benchmark in another process reads it and backs off, on one SQLite file."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from bot.eval_runs.options import SetChoice
from bot.eval_runs.plan import EvalRunRequest
from bot.eval_runs.service import EvalRunService
from bot.runtime.config import parse_config
from bot.runtime.services import Services
from bot.runtime.shared_budget import (
    HEADROOM,
    WINDOW,
    DemandRecorder,
    DemandReserver,
    limiter_of,
    recording_demand,
)
from evals.cases.assertions import Assertion, AssertionType
from evals.cases.redaction import redacted
from evals.cases.schema import CaseInput, CaseSet, CaseStatus, EvalCase
from evals.models.openai_compatible import OpenAICompatibleClient
from evals.models.rate_limits import LimitedClient, Priority, RateLimiter
from evals.protocols import SystemClock
from evals.records import ChatMessage
from evals.runs.report import RunStatus
from storage import case_repo, demand_repo
from storage.db import Database
from tests.bot.digest_seed import FakeClock, make_services
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.slack_requests import TEAM_ID

RPM = 1200  # the provider's limit for the member, and what Quorum is told
CASES = 120


def _services(db: Database, server: FakeOpenAIServer) -> Services:
    """One process's Services on ``db``: its own limiter, the fake provider's member."""
    member = {
        "model_name": "alpha",
        "litellm_params": {
            "model": "openai/alpha",
            "api_base": server.base_url,
            "api_key": "sk-test",
            "rpm": RPM,
        },
    }
    config = parse_config({"panel": [member]})
    base = make_services(db)
    return replace(
        base,
        config=config,
        members=config.panel_members(),
        shadow=[],
        client=LimitedClient(OpenAICompatibleClient(), RateLimiter()),
        clock=SystemClock(),
    )


def _add_cases(db: Database) -> None:
    cases = [
        redacted(
            EvalCase(
                id=f"capital-{i}",
                input=CaseInput(question=f"Capital of France? (benchmark {i})"),
                assertions=[Assertion(type=AssertionType.ICONTAINS, value="Paris")],
                status=CaseStatus.ACTIVE,
                set=CaseSet.GOLDEN,
            )
        )
        for i in range(CASES)
    ]
    with db.session() as s:
        case_repo.add_cases(s, cases, actor="test", workspace=TEAM_ID)


async def test_a_benchmark_in_another_process_backs_off_and_people_wait_little(
    sqlite_db: Database, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script("alpha", "Paris")
    fake_openai.rate_limit(rpm=RPM, burst_s=0.5)  # 20 a second, as Quorum paces them
    _add_cases(sqlite_db)
    web_db = Database(sqlite_db.url.render_as_string(hide_password=False))
    worker = _services(sqlite_db, fake_openai)  # `quorum worker`
    web = _services(web_db, fake_openai)  # the process answering /compare
    worker_limiter, web_limiter = limiter_of(worker), limiter_of(web)
    assert worker_limiter is not None and web_limiter is not None
    service = EvalRunService(worker)
    plan = service.plan(
        EvalRunRequest(case_set=SetChoice.GOLDEN, samples=1, use_judge=False, workspace=TEAM_ID)
    )
    plan.config = replace(plan.config, concurrency=16)

    waits: list[float] = []
    background_rpm: list[float | None] = []
    throttled_before: int | None = None  # people's refused calls until the back-off

    async def people() -> None:
        nonlocal throttled_before
        await asyncio.sleep(1.0)  # the benchmark is at the provider's limit by now
        async with recording_demand(web):
            for i in range(12):
                started = time.monotonic()
                answer = await web.client.complete(
                    web.members[0], [ChatMessage("user", f"A person asks {i}")]
                )
                waits.append(time.monotonic() - started)
                assert answer.ok, answer.error
                background_rpm.append(worker_limiter.background_rate("alpha"))
                if background_rpm[-1] is not None and throttled_before is None:
                    throttled_before = web_limiter.stats["alpha"].throttled
                await asyncio.sleep(0.5)

    try:
        report, _ = await asyncio.gather(service.run(plan), people())
        throttled = web_limiter.stats["alpha"].throttled
    finally:
        web.close()

    # The benchmark lost nothing: every sample answered and passed.
    assert report.status is RunStatus.COMPLETE
    assert len(report.results) == CASES
    assert all(r.error is None and r.passed for r in report.results)
    # It left people their share: its background rate went below the provider's limit.
    held = [r for r in background_rpm if r is not None]
    assert held, "the benchmark never backed off"
    assert max(held) < RPM
    # People waited little: no answer took long, and once the benchmark had backed off
    # the provider refused (next to) none of their calls. Without the shared budget it
    # refuses them all along (3 to 11 times in these 12 questions in our runs); with it,
    # at most once, in the half second before the benchmark first reads the record (up
    # to 2 more allowed on a loaded machine, where paced calls bunch up).
    assert max(waits) < 2.0, waits
    assert throttled_before is not None
    assert throttled - throttled_before <= 2, (throttled_before, throttled)


async def test_a_database_that_fails_costs_people_nothing(tmp_path: Any) -> None:
    """No table to write to (say, a database being migrated): the count is dropped."""
    db = Database(f"sqlite:///{tmp_path}/empty.db")
    services = replace(make_services(db), clock=SystemClock())
    try:
        recorder = DemandRecorder(services.db_guard, services.clock)
        recorder.note("alpha", Priority.INTERACTIVE)
        recorder.note("alpha", Priority.BACKGROUND)  # not a person's: not counted
        started = time.monotonic()
        await recorder.flush()  # logs, never raises
        assert time.monotonic() - started < 1.0
    finally:
        services.close()


async def test_the_recorder_writes_only_peoples_calls(sqlite_db: Database) -> None:
    services = replace(make_services(sqlite_db), clock=SystemClock())
    try:
        recorder = DemandRecorder(services.db_guard, services.clock)
        for _ in range(3):
            recorder.note("alpha", Priority.INTERACTIVE)
        recorder.note("beta", Priority.BACKGROUND)
        await recorder.flush()
        await recorder.flush()  # nothing new: nothing written
        since = datetime.now(UTC).replace(year=2000)
        demand = demand_repo.interactive_demand(sqlite_db, since=since)
        assert {m: d.calls for m, d in demand.items()} == {"alpha": 3}
    finally:
        services.close()


async def test_the_reservation_follows_recent_demand_and_lifts_when_people_stop(
    sqlite_db: Database,
) -> None:
    services = replace(make_services(sqlite_db), clock=SystemClock())
    clock = FakeClock(datetime(2026, 12, 6, 21, 0, tzinfo=UTC))
    limiter = RateLimiter()
    try:
        reserver = DemandReserver(services.db_guard, limiter, clock)
        # Six calls over the seconds 21:00:00-21:00:02: 2 a second, 120 a minute.
        for second in range(3):
            at = clock.now() + timedelta(seconds=second)
            demand_repo.record_interactive(sqlite_db, {"alpha": 2}, at=at)
        clock.advance(timedelta(seconds=3))
        await reserver.poll()
        assert limiter.reserved("alpha") == pytest.approx(120 * HEADROOM)
        clock.advance(WINDOW)  # nobody asked for a whole window: the full rate is back
        await reserver.poll()
        assert limiter.reserved("alpha") == 0
    finally:
        services.close()


async def test_an_unreadable_record_lifts_the_reservation_after_a_window(
    sqlite_db: Database,
) -> None:
    services = replace(make_services(sqlite_db), clock=SystemClock())
    clock = FakeClock(datetime(2026, 12, 6, 21, 0, tzinfo=UTC))
    limiter = RateLimiter()
    try:
        reserver = DemandReserver(services.db_guard, limiter, clock)
        demand_repo.record_interactive(sqlite_db, {"alpha": 5}, at=clock.now())
        await reserver.poll()
        assert limiter.reserved("alpha") > 0
        with sqlite_db.engine.begin() as conn:  # the record becomes unreadable
            conn.execute(text("DROP TABLE interactive_demand"))
        clock.advance(timedelta(seconds=1))
        await reserver.poll()  # fails: a blip keeps what was read last
        assert limiter.reserved("alpha") > 0
        clock.advance(WINDOW)
        await reserver.poll()  # still failing a window later: not held back any more
        assert limiter.reserved("alpha") == 0
    finally:
        services.close()
