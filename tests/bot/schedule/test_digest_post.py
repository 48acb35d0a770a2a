"""The weekly digest from seeded production and eval data, posted to a fake Slack."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import func, select

from bot.compare.shadow import run_shadow
from bot.listeners import digest as digest_listener
from bot.messages.digest import ACTION_OPEN_REVIEW, digest_blocks, model_text
from bot.messages.digest_chart import chart_weeks
from bot.runtime.services import Services
from bot.schedule import calibrators, jobs
from evals.digest.preference import PreferenceScore
from evals.digest.sections import ModelLine, build_digest
from evals.digest.week_data import DigestData, EvalResult, HistoryPoint, ModelWeek, ReviewItem
from evals.records import Consensus, ConsensusStatus, ModelAnswer, PanelRun
from storage import job_repo
from storage.db import Database
from storage.panel_runs_repo import get_run, save_panel_run
from storage.records import AnswerRole, RunOrigin, SignalKind, SignalSource
from storage.signals_repo import record_signal
from storage.tables.eval_runs import EvalResultRow, EvalRunRow
from storage.tables.jobs import JobStatus
from tests.bot.digest_seed import (
    BENCHMARK_FIRE,
    DIGEST_CHANNEL,
    DIGEST_FIRE,
    SHADOW,
    ScriptedClient,
    WordEmbedder,
    make_services,
    seed_calibrator,
    seed_eval_run,
    seed_evals,
    seed_production,
)
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import TEAM_ID, block_action, slash_command


def posted_text(fake_slack: FakeSlackAPI) -> str:
    (call,) = fake_slack.calls_to("chat.postMessage")
    return json.dumps(call.body["blocks"], ensure_ascii=False)


def test_digest_numbers_from_seeded_data(sqlite_db: Database) -> None:
    services = make_services(sqlite_db)
    seeded = seed_production(sqlite_db)
    seed_evals(sqlite_db)
    digest = jobs.weekly_digest(
        services, end=DIGEST_FIRE, period="2026-W48", workspace=TEAM_ID
    ).digest

    assert digest.questions == 6
    assert digest.headline == "alpha's eval pass rate went up 50 pts (to 100%)."
    lines = {line.model: line for line in digest.models}
    assert [m for m in lines] == ["alpha", "beta", "gamma", SHADOW]
    alpha, beta, gamma = lines["alpha"], lines["beta"], lines["gamma"]
    assert alpha.eval is not None and (alpha.eval.rate.passed, alpha.eval.rate.n) == (20, 20)
    assert alpha.eval.within_noise is False and alpha.eval.change == pytest.approx(0.5)
    assert beta.eval is not None and beta.eval.within_noise is True
    assert beta.eval.change == pytest.approx(-0.05)
    assert (alpha.thumbs.passed, alpha.thumbs.n) == (2, 6)  # type: ignore[union-attr]
    assert (beta.thumbs.passed, beta.thumbs.n) == (4, 5)  # type: ignore[union-attr]
    assert (gamma.thumbs.passed, gamma.thumbs.n) == (5, 5)  # type: ignore[union-attr]
    assert (alpha.volume, beta.volume, gamma.volume) == (6, 6, 6)
    assert (alpha.latency_p50_ms, beta.latency_p95_ms) == (1000, 3000)
    assert alpha.cost_per_100 == pytest.approx(0.2)
    assert beta.cost_per_100 == pytest.approx(0.1)
    assert gamma.cost_per_100 is None
    assert alpha.preference is not None and alpha.preference.rank == 1
    assert gamma.preference is not None and gamma.preference.rank == 2

    agreement = digest.rank_agreement
    assert agreement.n == 3 and agreement.rho == pytest.approx(-1.0)
    assert agreement.warning is not None and "not predicting production" in agreement.warning

    assert digest.calibration.n == 6
    assert digest.calibration.ece == pytest.approx(1 / 3)
    assert [(r.model, r.case_id) for r in digest.regressions] == [("beta", "c17")]
    assert digest.new_failure_modes == (("outdated", 1),)
    assert digest.review_total == 2

    (shadow,) = digest.shadow
    assert shadow.model == SHADOW and shadow.questions == 4
    assert shadow.mean_agreement == pytest.approx(0.575)
    assert shadow.eval_rate == pytest.approx(0.8)
    assert shadow.cost_delta_per_100 == pytest.approx(0.4 - 0.15)
    assert [d.run_id for d in shadow.disagreements] == [seeded.run_ids[i] for i in (1, 3, 2)]
    assert shadow.disagreements[0].link == "https://slack.com/archives/CASK/p1790000000000101"
    assert [p.week for p in digest.history][-1] == "2026-W47"


async def test_digest_is_posted_once_with_its_chart(
    sqlite_db: Database, fake_slack: FakeSlackAPI
) -> None:
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    seed_production(sqlite_db)
    seed_evals(sqlite_db)

    outcome = await jobs.run_job(services, "digest", scheduled_for=DIGEST_FIRE, workspace=TEAM_ID)
    assert (outcome.ran, outcome.status, outcome.period) == (True, JobStatus.DONE, "2026-W48")

    (post,) = fake_slack.calls_to("chat.postMessage")
    assert post.body["channel"] == DIGEST_CHANNEL
    assert post.body["text"].startswith("Quorum weekly digest 2026-W48: alpha's eval pass rate")
    blocks = post.body["blocks"]
    assert len(blocks) <= 50
    assert blocks[0]["type"] == "header"
    text = posted_text(fake_slack)
    assert "The benchmark is not predicting production" in text
    assert "eval 100% (84%–100%) on 20 cases; +50 pts vs last week" in text
    assert "−5 pts vs last week, within noise (20 shared cases)" in text
    assert "👍 33% of 6 ratings" in text
    assert "$0.20 per 100 questions" in text
    assert "Expected calibration error 0.33 over 6 judged answers (chance alone reaches 0." in text
    assert "beta: `c17`" in text
    assert "2 proposed case(s) awaiting review" in text
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text  # untrusted text escaped
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == [ACTION_OPEN_REVIEW]

    # The chart went up through the files API, as a real PNG.
    assert fake_slack.methods().count("files.getUploadURLExternal") == 1
    (complete,) = fake_slack.calls_to("files.completeUploadExternal")
    assert complete.body["channel_id"] == DIGEST_CHANNEL
    (png,) = fake_slack.uploads().values()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000

    # Asked again (a second process, a restart, a retried firing): nothing more is posted.
    again = await jobs.run_job(services, "digest", scheduled_for=DIGEST_FIRE, workspace=TEAM_ID)
    assert not again.ran and again.existing is not None
    assert again.existing.status is JobStatus.DONE
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


async def test_the_digest_says_what_rate_limits_cost_a_model_when_it_mattered(
    sqlite_db: Database, fake_slack: FakeSlackAPI
) -> None:
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    seed_production(sqlite_db)
    seed_evals(sqlite_db)
    # beta's latest run: its samples were refused 57 times and waited 3 minutes in all,
    # and 2 more samples were still rate limited at the run's deadline (never scored).
    with sqlite_db.session() as s:
        latest = s.scalar(select(func.max(EvalRunRow.id)))
        rows = s.scalars(
            select(EvalResultRow).where(
                EvalResultRow.run_id == latest, EvalResultRow.model == "beta"
            )
        ).all()
        for i, row in enumerate(rows):
            row.throttled = 3 if i < 19 else 0
            row.throttle_wait_ms = 9_000 if i < 20 else 0
        for case in ("c98", "c99"):
            s.add(
                EvalResultRow(
                    workspace_id=TEAM_ID, run_id=latest, case_id=case, model="beta", sample=0, text="",
                    passed=None, checks=[], verdict=None, failure_mode=None,
                    error_kind="deadline", throttled=0, throttle_wait_ms=0,
                    latency_ms=0, created_at=BENCHMARK_FIRE,
                )
            )  # fmt: skip

    await jobs.run_job(services, "digest", scheduled_for=DIGEST_FIRE, workspace=TEAM_ID)
    text = posted_text(fake_slack)
    assert (
        "the provider refused 57 requests; its samples waited 3 min on rate limits; "
        "2 samples lost at the deadline, not in the pass rate"
    ) in text
    # A model whose run was not slowed says nothing about limits.
    assert text.count("rate limits") == 1


async def test_force_posts_again(sqlite_db: Database, fake_slack: FakeSlackAPI) -> None:
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    await jobs.run_job(services, "digest", scheduled_for=DIGEST_FIRE, workspace=TEAM_ID)
    forced = await jobs.run_job(
        services, "digest", scheduled_for=DIGEST_FIRE, force=True, workspace=TEAM_ID
    )
    assert forced.ran and forced.status is JobStatus.DONE
    assert len(fake_slack.calls_to("chat.postMessage")) == 2
    run = job_repo.get_period(sqlite_db, "digest", "2026-W48", workspace=TEAM_ID)
    assert run is not None and run.attempts == 2


async def test_quiet_week_digest(sqlite_db: Database, fake_slack: FakeSlackAPI) -> None:
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    outcome = await jobs.run_job(services, "digest", scheduled_for=DIGEST_FIRE, workspace=TEAM_ID)
    assert outcome.status is JobStatus.DONE
    text = posted_text(fake_slack)
    assert "A quiet week: no questions and no benchmark results." in text
    assert "No proposed cases awaiting review." in text
    assert "Not measured: no 👍/👎 or corrections on consensus answers this week." in text
    (png,) = fake_slack.uploads().values()
    assert png.startswith(b"\x89PNG")


async def test_missed_benchmark_is_mentioned(sqlite_db: Database, fake_slack: FakeSlackAPI) -> None:
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    job_repo.mark_missed(
        sqlite_db, "benchmark", "2026-W47", now=DIGEST_FIRE - timedelta(days=2), workspace=TEAM_ID
    )
    await jobs.run_job(services, "digest", scheduled_for=DIGEST_FIRE, workspace=TEAM_ID)
    assert "The benchmark for 2026-W47 was missed and did not run." in posted_text(fake_slack)


async def test_slack_failure_is_recorded_and_retried(
    sqlite_db: Database, fake_slack: FakeSlackAPI
) -> None:
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    fake_slack.fail("chat.postMessage", error="not_in_channel")
    failed = await jobs.run_job(services, "digest", scheduled_for=DIGEST_FIRE, workspace=TEAM_ID)
    assert failed.status is JobStatus.FAILED
    assert failed.detail.startswith(
        f"Slack refused to post in {DIGEST_CHANNEL} (not_in_channel): invite the bot"
    )
    assert "(ref Q-" in failed.detail
    assert fake_slack.uploads() == {}
    retried = await jobs.run_job(services, "digest", scheduled_for=DIGEST_FIRE, workspace=TEAM_ID)
    assert retried.ran and retried.status is JobStatus.DONE
    assert len(fake_slack.uploads()) == 1


async def test_without_a_digest_channel_nothing_is_posted(
    sqlite_db: Database, fake_slack: FakeSlackAPI
) -> None:
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    services.config = services.config.model_copy(
        update={"slack": services.config.slack.model_copy(update={"digest_channel": None})}
    )
    outcome = await jobs.run_job(services, "digest", scheduled_for=DIGEST_FIRE, workspace=TEAM_ID)
    # Not an error on every firing (the start-up warned once): the job says why.
    assert outcome.status is JobStatus.DONE
    assert outcome.detail == "not posted: no slack.digest_channel is set"
    assert fake_slack.calls_to("chat.postMessage") == []


async def test_shadow_answers_never_reach_slack(
    sqlite_db: Database, fake_slack: FakeSlackAPI
) -> None:
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    seed_production(sqlite_db)
    await jobs.run_job(services, "digest", scheduled_for=DIGEST_FIRE, workspace=TEAM_ID)
    everything = json.dumps([c.body for c in fake_slack.calls], ensure_ascii=False)
    assert "candidate answer" not in everything  # their texts stay in the database
    assert {c.body.get("channel") for c in fake_slack.calls_to("chat.postMessage")} == {
        DIGEST_CHANNEL
    }


# -- shadow candidates ---------------------------------------------------------------------


def served_run(db: Database) -> tuple[int, Consensus]:
    run = PanelRun(
        question="What port does Redis listen on by default?",
        answers=(ModelAnswer(member="alpha", model="openai/alpha", text="Redis uses port 6379."),),
        started_at=DIGEST_FIRE - timedelta(days=1),
        finished_at=DIGEST_FIRE - timedelta(days=1) + timedelta(seconds=2),
        quorum=1,
    )
    consensus = Consensus(
        status=ConsensusStatus.SINGLE,
        model="alpha",
        text="Redis uses port 6379.",
        confidence=0.6,
        raw_confidence=0.6,
        clusters=(("alpha",),),
        agreement={"alpha": 1.0},
        dissenters=(),
        features={},
        calibrator="cal-test",
    )
    with db.session() as s:
        run_id = save_panel_run(
            s,
            run,
            consensus,
            origin=RunOrigin.SLACK,
            requester="U1",
            config_hash="h",
            workspace=TEAM_ID,
        )
    return run_id, consensus


async def test_shadow_candidates_answer_silently_and_are_stored(
    sqlite_db: Database, fake_slack: FakeSlackAPI
) -> None:
    client = ScriptedClient({SHADOW: "By default Redis uses port 6379."}, cost=0.0021)
    services = make_services(
        sqlite_db,
        slack_url=fake_slack.url,
        client=client,
        embedder=WordEmbedder(),
        now=DIGEST_FIRE - timedelta(days=1),
    )
    run_id, consensus = served_run(sqlite_db)

    await run_shadow(
        services, run_id=run_id, question="What port?", consensus=consensus, workspace=TEAM_ID
    )

    assert [name for name, _ in client.calls] == [SHADOW]  # only the shadow models are asked
    with sqlite_db.session() as s:
        record = get_run(s, run_id, workspace=TEAM_ID)
    assert record is not None
    (shadow,) = [a for a in record.answers if a.role is AnswerRole.SHADOW]
    assert (shadow.member, shadow.text) == (SHADOW, "By default Redis uses port 6379.")
    assert shadow.cost_usd == pytest.approx(0.0021) and shadow.latency_ms == 640
    assert shadow.agreement is not None and 0.7 < shadow.agreement <= 1.0
    assert fake_slack.calls == []  # never shown in Slack

    # ...and they show up in the digest's shadow section, not among the panel.
    services.clock.current = DIGEST_FIRE  # type: ignore[attr-defined]
    digest = jobs.weekly_digest(
        services, end=DIGEST_FIRE, period="2026-W48", workspace=TEAM_ID
    ).digest
    (line,) = digest.shadow
    assert line.model == SHADOW and line.questions == 1
    assert line.mean_agreement == pytest.approx(shadow.agreement)
    assert [m.model for m in digest.models if m.role == "panel"] == ["alpha", "beta", "gamma"]


async def test_a_disagreeing_shadow_answer_scores_low(sqlite_db: Database) -> None:
    client = ScriptedClient({SHADOW: "Memcached listens on 11211, use that instead."})
    services = make_services(sqlite_db, client=client, embedder=WordEmbedder())
    run_id, consensus = served_run(sqlite_db)
    await run_shadow(
        services, run_id=run_id, question="What port?", consensus=consensus, workspace=TEAM_ID
    )
    with sqlite_db.session() as s:
        record = get_run(s, run_id, workspace=TEAM_ID)
    assert record is not None
    (shadow,) = [a for a in record.answers if a.role is AnswerRole.SHADOW]
    assert shadow.agreement is not None and shadow.agreement < 0.5


async def test_shadow_failures_never_reach_the_caller(
    sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    client = ScriptedClient({SHADOW: "Redis listens on 6379."})
    services = make_services(sqlite_db, client=client, embedder=WordEmbedder())
    run_id, consensus = served_run(sqlite_db)
    # A run id that does not exist: storing fails; run_shadow logs and returns.
    await run_shadow(
        services, run_id=999_999, question="What port?", consensus=consensus, workspace=TEAM_ID
    )
    assert [name for name, _ in client.calls] == [SHADOW]
    (failure,) = [r for r in caplog.records if r.name == "quorum.shadow"]
    assert failure.levelname == "ERROR"
    assert "shadow candidates failed for run 999999" in failure.getMessage()
    with sqlite_db.session() as s:
        assert get_run(s, 999_999, workspace=TEAM_ID) is None
        served = get_run(s, run_id, workspace=TEAM_ID)
    # The served run is untouched: no shadow answer was attached to it by mistake.
    assert served is not None
    assert [a.member for a in served.answers] == ["alpha"]


async def test_no_shadow_models_means_no_calls(sqlite_db: Database) -> None:
    client = ScriptedClient()
    services = make_services(sqlite_db, client=client, embedder=WordEmbedder())
    services.shadow = []
    run_id, consensus = served_run(sqlite_db)
    await run_shadow(services, run_id=run_id, question="q", consensus=consensus, workspace=TEAM_ID)
    assert client.calls == []


# -- `/compare digest` ---------------------------------------------------------------------

SECRET = "digest-test-signing-secret"


def headers(raw: dict[str, str]) -> dict[str, str | Sequence[str]]:
    return dict(raw)


def digest_app(services: Services, fake_slack: FakeSlackAPI) -> AsyncApp:
    app = AsyncApp(
        client=AsyncWebClient(token="xoxb-test-token", base_url=fake_slack.url),
        signing_secret=SECRET,
        process_before_response=True,
    )
    digest_listener.register(app, services)
    return app


async def dispatch(app: AsyncApp, text: str, fake_slack: FakeSlackAPI) -> tuple[int, str]:
    request = slash_command(SECRET, text, response_url=fake_slack.response_url("digest"))
    response = await app.async_dispatch(
        AsyncBoltRequest(body=request.body, headers=headers(request.headers))
    )
    return response.status, response.body


async def test_compare_digest_previews_only_to_the_asker(
    sqlite_db: Database, fake_slack: FakeSlackAPI
) -> None:
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    seed_production(sqlite_db)
    seed_evals(sqlite_db)
    status, ack = await dispatch(digest_app(services, fake_slack), "digest", fake_slack)
    assert status == 200
    assert json.loads(ack)["response_type"] == "ephemeral"
    (reply,) = fake_slack.response_url_posts("digest")
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].startswith("Preview: Quorum weekly digest 2026-W48: alpha's eval")
    text = json.dumps(reply["blocks"], ensure_ascii=False)
    assert "The benchmark is not predicting production" in text
    assert "Preview, only visible to you" in text
    assert len(reply["blocks"]) <= 50
    # Nothing public: no message posted, no chart uploaded, no job period used up.
    assert fake_slack.calls_to("chat.postMessage") == []
    assert fake_slack.uploads() == {}
    assert job_repo.job_periods(sqlite_db, workspace=TEAM_ID) == []


async def test_other_compare_text_is_not_the_digest(
    sqlite_db: Database, fake_slack: FakeSlackAPI
) -> None:
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    status, _ = await dispatch(digest_app(services, fake_slack), "what is the digest", fake_slack)
    assert status == 404  # left to the /compare listener
    assert fake_slack.response_url_posts("digest") == []


async def test_compare_digest_failure_is_friendly(
    sqlite_db: Database, fake_slack: FakeSlackAPI, tmp_path: Path
) -> None:
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    services.db = Database(f"sqlite:///{tmp_path}/never-migrated.db")  # every query fails
    await dispatch(digest_app(services, fake_slack), "digest", fake_slack)
    (reply,) = fake_slack.response_url_posts("digest")
    assert reply["text"].startswith("Sorry, the digest preview failed.")
    assert "ref Q-" in reply["text"] and "Traceback" not in reply["text"]


# -- block limits --------------------------------------------------------------------------


def test_a_huge_digest_stays_within_slack_limits() -> None:
    weeks = [
        ModelWeek(
            model=f"model-{i:02d}-" + "x" * 200,
            eval_now=EvalResult(5, 10, {f"c{j}": 1.0 if j < 5 else 0.0 for j in range(10)}),
            eval_before=EvalResult(10, 10, {f"c{j}": 1.0 for j in range(10)}),
            thumbs_up=3,
            thumbs_down=4,
            answers=7,
        )
        for i in range(70)
    ]
    data = DigestData(
        period="2026-W48",
        start=DIGEST_FIRE - timedelta(days=7),
        end=DIGEST_FIRE,
        timezone="Europe/Berlin",
        models=weeks,
        questions=500,
        review=[ReviewItem(f"case-{i}", "<!here> " + "q" * 500) for i in range(5)],
        review_total=300,
    )
    blocks = digest_blocks(build_digest(data), chart_attached=True)
    assert len(blocks) == 50
    for block in blocks:
        text = block.get("text", {}).get("text", "")
        assert len(text) <= 3000
    dumped = json.dumps(blocks)
    assert "<!here>" not in dumped
    assert "shortened to fit in Slack" in dumped
    # Five of the 300 proposed cases are listed; the rest are counted, not hidden.
    assert "300 proposed case(s) awaiting review" in dumped
    assert "and 295 more in the review list" in dumped


# -- refit from production labels ----------------------------------------------------------


def seed_labels(db: Database, n: int, *, seed: int = 7) -> None:
    """``n`` judged consensus answers: people agree when nearly the whole panel agreed."""
    rng = random.Random(seed)
    calibrator = seed_calibrator()
    with db.session() as s:
        for i in range(n):
            share = rng.random()
            features = {
                "pick_logit": 1.0,
                "pick_cluster_share": share,
                "cluster_entropy": 1.0 - share,
                "informative_fraction": 1.0,
            }
            started = DIGEST_FIRE - timedelta(days=20) + timedelta(hours=6 * i)
            run = PanelRun(
                question=f"q{i}",
                answers=(ModelAnswer(member="alpha", model="openai/alpha", text="a"),),
                started_at=started,
                finished_at=started + timedelta(seconds=1),
                quorum=1,
            )
            consensus = Consensus(
                status=ConsensusStatus.SINGLE,
                model="alpha",
                text="a",
                confidence=calibrator.predict(features),
                raw_confidence=share,
                clusters=(("alpha",),),
                agreement={"alpha": 1.0},
                dissenters=(),
                features=features,
                calibrator=calibrator.id,
            )
            run_id = save_panel_run(
                s,
                run,
                consensus,
                origin=RunOrigin.SLACK,
                requester="U1",
                config_hash="h",
                workspace=TEAM_ID,
            )
            agreed = rng.random() < (0.9 if share > 0.8 else 0.1)
            record_signal(
                s,
                run_id=run_id,
                user_id="U1",
                kind=SignalKind.UP if agreed else SignalKind.DOWN,
                source=SignalSource.REACTION,
                at=started,
                workspace=TEAM_ID,
            )


async def test_weekly_job_refits_the_calibrator_and_says_so(
    sqlite_db: Database, fake_slack: FakeSlackAPI
) -> None:
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    previous = services.calibrator
    seed_labels(sqlite_db, 60)
    outcome = await jobs.run_job(services, "digest", scheduled_for=DIGEST_FIRE, workspace=TEAM_ID)
    assert outcome.status is JobStatus.DONE
    assert "Calibrator refitted: refitted on 60 production labels" in posted_text(fake_slack)

    stored = {c.id: c for c in job_repo.calibrators(sqlite_db, workspace=TEAM_ID)}
    served = services.calibrator_for(TEAM_ID)
    assert set(stored) == {previous.id, served.id}
    assert served.id != previous.id  # served to this workspace from now on
    assert services.calibrator is previous  # ...and to no other
    assert stored[served.id].active and not stored[previous.id].active
    assert stored[served.id].source == "refit"
    assert stored[served.id].n_labels == 60
    loaded = calibrators.load_active_calibrator(services, TEAM_ID)
    assert loaded is not None and loaded.id == served.id
    assert job_repo.calibrators(sqlite_db, workspace="T0BRAVO") == []


async def test_too_few_labels_keeps_the_calibrator_and_says_so(
    sqlite_db: Database, fake_slack: FakeSlackAPI
) -> None:
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    previous = services.calibrator
    seed_labels(sqlite_db, 20)
    await jobs.run_job(services, "digest", scheduled_for=DIGEST_FIRE, workspace=TEAM_ID)
    assert (
        "Calibrator not refitted: only 20 production label(s); 50 needed to refit"
        in posted_text(fake_slack)
    )
    assert services.calibrator_for(TEAM_ID) is previous
    (only,) = job_repo.calibrators(sqlite_db, workspace=TEAM_ID)
    assert only.id == previous.id and only.active


def test_the_week_is_shown_in_the_configured_time_zone(sqlite_db: Database) -> None:
    services = make_services(sqlite_db)
    digest = jobs.weekly_digest(
        services, end=DIGEST_FIRE, period="2026-W48", workspace=TEAM_ID
    ).digest
    context = digest_blocks(digest)[1]["elements"][0]["text"]
    assert context == "16 Nov 09:00 – 23 Nov 2026 09:00 (Europe/Berlin) · 0 question(s)"


async def click_review(app: AsyncApp, fake_slack: FakeSlackAPI, user_id: str) -> None:
    request = block_action(
        SECRET,
        action_id=ACTION_OPEN_REVIEW,
        value="proposed",
        user_id=user_id,
        channel_id=DIGEST_CHANNEL,
        response_url=fake_slack.response_url("review"),
    )
    response = await app.async_dispatch(
        AsyncBoltRequest(body=request.body, headers=headers(request.headers))
    )
    assert response.status == 200


async def test_review_button_opens_the_review_list_for_reviewers(
    sqlite_db: Database, fake_slack: FakeSlackAPI
) -> None:
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    services.config = services.config.model_copy(
        update={"slack": services.config.slack.model_copy(update={"reviewers": ["UREVIEWER"]})}
    )
    seed_production(sqlite_db)  # two proposed cases
    app = digest_app(services, fake_slack)

    await click_review(app, fake_slack, "UREVIEWER")
    (shown,) = fake_slack.response_url_posts("review")
    assert shown["response_type"] == "ephemeral" and shown["replace_original"] is False
    assert shown["text"] == "2 proposed eval case(s) to review"
    assert "Proposed question 1?" in json.dumps(shown["blocks"])

    await click_review(app, fake_slack, "USOMEONE")
    refused = fake_slack.response_url_posts("review")[-1]
    assert refused["response_type"] == "ephemeral"
    assert "Proposed question" not in json.dumps(refused)


async def test_the_posted_digest_leads_with_decisions_and_ranks_nothing_on_one_vote(
    sqlite_db: Database, fake_slack: FakeSlackAPI
) -> None:
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    seed_production(sqlite_db)
    seed_evals(sqlite_db)
    await jobs.run_job(services, "digest", scheduled_for=DIGEST_FIRE, workspace=TEAM_ID)
    text = posted_text(fake_slack)
    decide = text.index("This week, decide:")
    assert decide < text.index("Biggest change:") < text.index("Models this week")
    assert text.index("Review 2 proposed eval case(s)") < text.index("Models this week")
    assert text.index("Shadow candidates") < text.index("Models this week")
    assert "Calibrat" in text and "Expected calibration error 0.33" in text

    one_vote = ModelLine(
        "m", "panel", None, None, None, 3, PreferenceScore("m", 2.0, 1, 1, 1), None, None, None
    )
    assert "1 best-answer vote: too few to rank" in model_text(one_vote)
    assert "preferred #" not in model_text(one_vote)

    history = [
        HistoryPoint("2026-W45", "m", None, None),
        HistoryPoint("2026-W46", "m", 0.5, None),
        HistoryPoint("2026-W48", "m", 0.7, 0.8),
    ]
    assert chart_weeks(history, ["2026-W44", "2026-W45", "2026-W46", "2026-W47", "2026-W48"]) == [
        "2026-W46",
        "2026-W48",
    ]


async def test_a_fall_between_two_runs_of_the_week_leads_the_posted_digest(
    sqlite_db: Database, fake_slack: FakeSlackAPI
) -> None:
    """No runs last week; on Tuesday gpt-4.1-mini passed 20 of 20 cases, on Saturday 10
    of 20. The posted digest's first decision is to look into it, never "Nothing changed
    beyond noise"; alpha's 100% → 95% is noise and is not a decision."""
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    seed_eval_run(sqlite_db, BENCHMARK_FIRE - timedelta(days=5), {"gpt-4.1-mini": 20, "alpha": 20})
    seed_eval_run(sqlite_db, BENCHMARK_FIRE - timedelta(days=1), {"gpt-4.1-mini": 10, "alpha": 19})
    await jobs.run_job(services, "digest", scheduled_for=DIGEST_FIRE, workspace=TEAM_ID)
    (call,) = fake_slack.calls_to("chat.postMessage")
    sections = [b["text"]["text"] for b in call.body["blocks"] if b["type"] == "section"]
    decide = next(s for s in sections if s.startswith("*This week, decide:*"))
    assert decide.splitlines()[1] == (
        "• Look into gpt-4.1-mini: its eval pass rate fell 50 pts, from 100% to 50%, since "
        "this week's run of Tue 17 Nov (p = 0.002, 20 shared cases)."
    )
    assert "Look into alpha" not in decide
    assert "Check 11 regressed case(s) (alpha 1, gpt-4.1-mini 10)" in decide
    text = "\n".join(sections)
    assert "Nothing changed beyond noise" not in text
    assert (
        "*Biggest change:* gpt-4.1-mini's eval pass rate fell 50 pts since this week's run "
        "of Tue 17 Nov (to 50% on 20 shared cases)." in text
    )
    mini = next(s for s in sections if s.startswith("*gpt-4.1-mini*"))
    assert "eval 50% (" in mini and "on 20 cases; no run last week to compare; fell 50 pts" in mini
