"""Schedules, catch-up after downtime and exactly-once firing, with a controlled clock.

Nothing here sleeps or starts a scheduler thread: fire times come from APScheduler's
triggers, and "firing" a job is calling the function APScheduler would call.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from bot.runtime.config import parse_config
from bot.schedule import jobs, scheduler
from bot.schedule.cron import JobSchedule, build_schedules, plan_catch_up
from evals.cases.redaction import redacted
from evals.cases.schema import CaseInput, CaseSet, CaseStatus, EvalCase
from evals.errors import ConfigError
from storage import case_repo, digest_queries, eval_repo, job_repo, signals_repo
from storage.db import Database
from storage.tables.jobs import JobStatus
from tests.bot.digest_seed import (
    BENCHMARK_FIRE,
    DIGEST_FIRE,
    SHADOW,
    FakeClock,
    ScriptedClient,
    config_data,
    make_services,
)
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import TEAM_ID

BERLIN = "Europe/Berlin"
GRACE = timedelta(hours=6)


def digest_schedule(cron: str = "0 9 * * mon", tz: str = BERLIN) -> JobSchedule:
    return JobSchedule.parse("digest", cron, tz, GRACE)


# -- when -----------------------------------------------------------------------------------


def test_default_schedules_fire_in_the_configured_zone() -> None:
    config = parse_config(config_data())
    benchmark, digest = build_schedules(config)
    monday_noon = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    assert benchmark.job == "benchmark"
    assert benchmark.next_fire(monday_noon) == datetime(2026, 11, 29, 21, 0, tzinfo=UTC)
    assert digest.next_fire(monday_noon) == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert digest.grace == timedelta(minutes=360)


def test_schedules_follow_daylight_saving_time() -> None:
    # Berlin moves to summer time on Sunday 29 March 2026: 09:00 local is then 07:00 UTC.
    digest = digest_schedule()
    assert digest.next_fire(datetime(2026, 3, 21, tzinfo=UTC)) == datetime(
        2026, 3, 23, 8, 0, tzinfo=UTC
    )
    assert digest.next_fire(datetime(2026, 3, 24, tzinfo=UTC)) == datetime(
        2026, 3, 30, 7, 0, tzinfo=UTC
    )


def test_disabled_schedule_has_no_job() -> None:
    config = parse_config(config_data(benchmark=None))
    assert [s.job for s in build_schedules(config)] == ["digest"]


def test_period_is_the_iso_week_in_the_configured_zone() -> None:
    digest = digest_schedule()
    assert digest.weekly
    assert digest.period_for(DIGEST_FIRE) == "2026-W48"
    # Sunday 23:30 in Berlin is still week 47 there, though Monday already in Tokyo.
    sunday_late = datetime(2026, 11, 22, 22, 30, tzinfo=UTC)
    assert digest.period_for(sunday_late) == "2026-W47"
    assert digest_schedule(tz="Asia/Tokyo").period_for(sunday_late) == "2026-W48"


def test_a_daily_schedule_gets_one_period_per_firing() -> None:
    daily = digest_schedule("0 9 * * *")
    assert not daily.weekly
    assert daily.period_for(datetime(2026, 11, 24, 10, 0, tzinfo=UTC)) == "2026-11-24T09:00"


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 9 * * 1", "write the weekday by name"),
        ("0 9 * *", "expected 5 fields"),
        ("0 25 * * mon", "not a valid cron expression"),
    ],
)
def test_bad_cron_is_a_friendly_config_error(cron: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        digest_schedule(cron)


# -- catch-up after downtime -------------------------------------------------------------


def test_fresh_install_runs_a_firing_within_grace_once() -> None:
    plan = plan_catch_up(digest_schedule(), DIGEST_FIRE + timedelta(hours=2), None)
    assert plan.run == DIGEST_FIRE and plan.missed == ()


def test_fresh_install_after_the_grace_window_owes_nothing() -> None:
    plan = plan_catch_up(digest_schedule(), DIGEST_FIRE + timedelta(hours=7), None)
    assert plan.run is None and plan.missed == ()


def test_grace_window_edges() -> None:
    last_week = DIGEST_FIRE - timedelta(days=7)
    inside = plan_catch_up(digest_schedule(), DIGEST_FIRE + GRACE, last_week)
    assert inside.run == DIGEST_FIRE
    outside = plan_catch_up(
        digest_schedule(), DIGEST_FIRE + GRACE + timedelta(seconds=1), last_week
    )
    assert outside.run is None and outside.missed == (DIGEST_FIRE,)


def test_long_downtime_runs_the_latest_and_misses_the_rest() -> None:
    three_weeks_ago = DIGEST_FIRE - timedelta(days=21)
    plan = plan_catch_up(digest_schedule(), DIGEST_FIRE + timedelta(hours=1), three_weeks_ago)
    assert plan.run == DIGEST_FIRE
    assert plan.missed == (DIGEST_FIRE - timedelta(days=14), DIGEST_FIRE - timedelta(days=7))


def test_nothing_owed_when_the_last_run_was_the_latest_firing() -> None:
    plan = plan_catch_up(digest_schedule(), DIGEST_FIRE + timedelta(hours=1), DIGEST_FIRE)
    assert plan.run is None and plan.missed == ()


# -- wiring --------------------------------------------------------------------------------


def test_jobs_are_added_with_cron_triggers_grace_and_catch_up() -> None:
    config = parse_config(config_data())
    schedules = build_schedules(config)
    clock = FakeClock(DIGEST_FIRE + timedelta(hours=1))
    fired: list[tuple[str, datetime | None]] = []
    missed: list[tuple[str, datetime]] = []
    sched = BackgroundScheduler(timezone=BERLIN)
    scheduler.add_jobs(
        sched,
        schedules,
        lambda job, fire: fired.append((job, fire)),
        now=clock.now,
        last_seen=lambda job: DIGEST_FIRE - timedelta(days=14),
        record_missed=lambda s, fire: missed.append((s.job, fire)),
    )
    by_id = {j.id: j for j in sched.get_jobs()}
    assert set(by_id) == {"benchmark", "digest", "digest-catch-up"}
    assert by_id["digest"].misfire_grace_time == 6 * 3600
    assert by_id["digest"].coalesce is True and by_id["digest"].max_instances == 1
    assert by_id["digest"].trigger.get_next_fire_time(None, clock.now()) == datetime(
        2026, 11, 30, 9, 0, tzinfo=by_id["digest"].trigger.timezone
    )
    # Benchmark fired Sunday 22:00 (11 h ago, beyond the grace): missed, not run.
    assert ("benchmark", BENCHMARK_FIRE) in missed
    assert ("digest", DIGEST_FIRE - timedelta(days=7)) in missed
    assert by_id["digest-catch-up"].args == ("digest", DIGEST_FIRE)

    # APScheduler firing the cron job an instant after Monday 09:00 next week:
    clock.current = DIGEST_FIRE + timedelta(days=7, seconds=2)
    job = by_id["digest"]
    job.func(*job.args)
    assert fired == [("digest", DIGEST_FIRE + timedelta(days=7))]


def test_two_schedulers_on_one_database_post_once(db: Database, fake_slack: FakeSlackAPI) -> None:
    """The bot and a `quorum clock` process, each with its own scheduler and database
    handle, both fire Monday's digest; Slack sees one digest."""
    other_db = Database(db.url.render_as_string(hide_password=False))
    try:
        restart = DIGEST_FIRE + timedelta(minutes=10)
        first = make_services(db, slack_url=fake_slack.url, now=restart)
        second = make_services(other_db, slack_url=fake_slack.url, now=restart)
        schedulers = []
        for services in (first, second):
            sched = BackgroundScheduler(timezone=BERLIN)
            scheduler.wire(sched, services)
            schedulers.append({j.id: j for j in sched.get_jobs()})
        # Both restarted 10 minutes after the firing: both plan a catch-up run...
        assert all("digest-catch-up" in s for s in schedulers)
        # ...and both run it.
        for s in schedulers:
            job = s["digest-catch-up"]
            job.func(*job.args)
        assert len(fake_slack.calls_to("chat.postMessage")) == 1
        assert len(fake_slack.uploads()) == 1
        runs = job_repo.job_periods(db, job="digest", workspace=TEAM_ID)
        assert [(r.period, r.status, r.attempts) for r in runs] == [("2026-W48", JobStatus.DONE, 1)]
        # The next week's cron firing, in both processes: again exactly one digest.
        for services in (first, second):
            services.clock.current = DIGEST_FIRE + timedelta(days=7, seconds=1)  # type: ignore[attr-defined]
        for s in schedulers:
            s["digest"].func(*s["digest"].args)
        assert len(fake_slack.calls_to("chat.postMessage")) == 2
    finally:
        other_db.dispose()


def test_missed_firings_are_recorded_for_the_next_digest(sqlite_db: Database) -> None:
    services = make_services(sqlite_db, now=DIGEST_FIRE + timedelta(hours=8))
    # The last benchmark ran two weeks ago; the process was down since.
    assert job_repo.claim_period(
        sqlite_db,
        "benchmark",
        "2026-W45",
        now=BENCHMARK_FIRE - timedelta(days=14),
        scheduled_for=BENCHMARK_FIRE - timedelta(days=14),
        workspace=TEAM_ID,
    )
    job_repo.mark_done(
        sqlite_db,
        "benchmark",
        "2026-W45",
        now=BENCHMARK_FIRE - timedelta(days=14),
        workspace=TEAM_ID,
    )
    sched = BackgroundScheduler(timezone=BERLIN)
    scheduler.wire(sched, services)
    assert "benchmark-catch-up" not in {j.id for j in sched.get_jobs()}
    runs = {(r.job, r.period): r.status for r in job_repo.job_periods(sqlite_db, workspace=TEAM_ID)}
    # Sunday firings belong to the ISO week they end.
    assert runs[("benchmark", "2026-W46")] is JobStatus.MISSED
    assert runs[("benchmark", "2026-W47")] is JobStatus.MISSED
    assert jobs.last_seen(services, "benchmark") == BENCHMARK_FIRE


# -- the scheduled benchmark ---------------------------------------------------------------


async def test_scheduled_benchmark_runs_panel_and_shadow_once(sqlite_db: Database) -> None:
    client = ScriptedClient(
        {"alpha": "It is 42.", "beta": "It is 43.", "gamma": "42", SHADOW: "The answer is 42."}
    )
    services = make_services(sqlite_db, client=client, now=BENCHMARK_FIRE)
    with sqlite_db.session() as s:
        case_repo.add_cases(
            s,
            [
                redacted(
                    EvalCase(
                        id=f"math-{i}",
                        input=CaseInput(question=f"What is 6 x 7? ({i})"),
                        must_include=["42"],
                        status=CaseStatus.ACTIVE,
                        set=CaseSet.GOLDEN if i < 2 else CaseSet.ROTATING,
                    )
                )
                for i in range(3)
            ],
            actor="test",
            workspace=TEAM_ID,
        )
    outcome = await jobs.run_job(
        services, "benchmark", scheduled_for=BENCHMARK_FIRE, workspace=TEAM_ID
    )
    assert (outcome.status, outcome.period) == (JobStatus.DONE, "2026-W47")
    assert "3 cases x 4 models x 3 samples" in outcome.detail
    assert len(client.calls) == 3 * 4 * 3

    (run,) = eval_repo_list(sqlite_db)
    assert run.case_set == "all" and set(run.models) == {"alpha", "beta", "gamma", SHADOW}
    assert run.samples_done == run.sample_total == 36
    with sqlite_db.session() as s:
        results = digest_queries.eval_results(
            s,
            BENCHMARK_FIRE - timedelta(hours=1),
            BENCHMARK_FIRE + timedelta(hours=1),
            workspace=TEAM_ID,
        )
    assert {m: (r.passed, r.n) for m, r in results.items()} == {
        "alpha": (9, 9),
        "beta": (0, 9),
        "gamma": (9, 9),
        SHADOW: (9, 9),
    }

    again = await jobs.run_job(
        services, "benchmark", scheduled_for=BENCHMARK_FIRE, workspace=TEAM_ID
    )
    assert not again.ran
    assert len(client.calls) == 36


async def test_benchmark_without_cases_says_so(sqlite_db: Database) -> None:
    services = make_services(sqlite_db, now=BENCHMARK_FIRE)
    outcome = await jobs.run_job(
        services, "benchmark", scheduled_for=BENCHMARK_FIRE, workspace=TEAM_ID
    )
    assert outcome.status is JobStatus.DONE
    assert outcome.detail == "no active eval cases; nothing to benchmark"


def eval_repo_list(db: Database) -> list[eval_repo.EvalRunInfo]:
    with db.session() as s:
        return eval_repo.list_runs(s, workspace=TEAM_ID)


def test_a_frequent_schedule_after_a_long_outage_records_at_most_20_misses() -> None:
    hourly = JobSchedule.parse("benchmark", "0 * * * *", "UTC", timedelta(minutes=30))
    now = DIGEST_FIRE + timedelta(minutes=10)
    plan = plan_catch_up(hourly, now, now - timedelta(days=3))
    assert plan.run == DIGEST_FIRE
    assert len(plan.missed) == 20
    assert plan.missed[-1] == DIGEST_FIRE - timedelta(hours=1)
    assert hourly.latest_fire(now) == DIGEST_FIRE
    assert hourly.period_for(now) == "2026-11-23T08:00"


def test_a_refit_elsewhere_reaches_this_process(sqlite_db: Database) -> None:
    services = make_services(sqlite_db)
    sched = BackgroundScheduler(timezone=BERLIN)
    scheduler.wire(sched, services)
    refresh = {j.id: j for j in sched.get_jobs()}["calibrator-refresh"]
    assert refresh.trigger.interval == timedelta(minutes=15)

    assert refresh.func(*refresh.args) is False  # nothing stored: keep serving ours
    refitted = replace(services.calibrator, provenance={"refit": {"labels": 60}})
    refitted = replace(
        refitted,
        confidence_model=replace(refitted.confidence_model, intercept=-1.0),
    )
    job_repo.save_calibrator(
        sqlite_db,
        calibrator_id=refitted.id,
        json_text=refitted.to_json(),
        created_at=DIGEST_FIRE,
        source="refit",
        n_labels=60,
        metrics={},
        active=True,
        workspace=TEAM_ID,
    )
    assert refresh.func(*refresh.args) is True
    assert services.calibrator_for(TEAM_ID).id == refitted.id
    assert services.calibrator.id != refitted.id  # other workspaces keep the configured one
    assert refresh.func(*refresh.args) is False


async def test_in_process_schedulers_start_on_the_running_loop(sqlite_db: Database) -> None:
    services = make_services(sqlite_db, now=DIGEST_FIRE + timedelta(days=2))
    full = scheduler.start_scheduler(services)
    light = scheduler.start_housekeeping(services)
    try:
        assert full.running and light.running
        assert {j.id for j in full.get_jobs()} == {
            "benchmark",
            "digest",
            "calibrator-refresh",
            "prune-deliveries",
        }
        assert {j.id for j in light.get_jobs()} == {"calibrator-refresh", "prune-deliveries"}
    finally:
        full.shutdown(wait=False)
        light.shutdown(wait=False)


def test_old_slack_delivery_keys_are_pruned_but_the_rate_limit_window_is_kept(
    sqlite_db: Database,
) -> None:
    services = make_services(sqlite_db, now=DIGEST_FIRE)
    sched = BackgroundScheduler(timezone=BERLIN)
    scheduler.wire(sched, services)
    prune = {j.id: j for j in sched.get_jobs()}["prune-deliveries"]
    assert prune.trigger.interval == timedelta(hours=1)
    with sqlite_db.session() as session:
        signals_repo.claim_delivery(
            session, "old", "event", at=DIGEST_FIRE - timedelta(days=3), workspace=TEAM_ID
        )
        signals_repo.claim_delivery(
            session, "recent", "ask:U1", at=DIGEST_FIRE - timedelta(days=1), workspace=TEAM_ID
        )

    assert prune.func(*prune.args) == 1

    with sqlite_db.session() as session:
        assert not signals_repo.claim_delivery(
            session, "recent", "ask:U1", workspace=TEAM_ID
        )  # still known
        assert signals_repo.claim_delivery(session, "old", "event", workspace=TEAM_ID)  # forgotten


async def test_a_digest_without_a_channel_warns_once_on_start_and_never_errors(
    sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """The shipped quorum.yaml schedules the digest but names no channel: a Monday start
    (a catch-up firing) warns once, in words, and logs no ERROR and no traceback."""
    services = make_services(sqlite_db, now=DIGEST_FIRE + timedelta(minutes=10))
    services = replace(
        services,
        config=services.config.model_copy(
            update={"slack": services.config.slack.model_copy(update={"digest_channel": None})}
        ),
    )
    caplog.set_level(logging.INFO)
    sched = BackgroundScheduler(timezone=BERLIN)
    scheduler.wire(sched, services)
    catch_up = {j.id: j for j in sched.get_jobs()}["digest-catch-up"]
    outcome = await jobs.run_job(
        services, "digest", scheduled_for=catch_up.args[1], workspace=TEAM_ID
    )
    assert outcome.status is JobStatus.DONE
    assert outcome.detail == "not posted: no slack.digest_channel is set"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [scheduler.NO_DIGEST_CHANNEL]
    assert all(r.exc_info is None for r in caplog.records)
