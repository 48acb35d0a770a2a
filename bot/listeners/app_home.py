"""The App Home tab: published when someone opens it (``app_home_opened`` →
``views.publish``) and again after they act on the review queue shown there.

What it shows comes from the queries the digest and ``/compare models`` use
(:mod:`storage.digest_queries`, :mod:`storage.panel_runs_repo`), the review list of
``/compare cases`` (:func:`bot.listeners.cases_review.review_message`) and the
schedules in quorum.yaml (:mod:`bot.schedule.cron`).

Slack sends ``app_home_opened`` each time the tab is opened; a view is republished for
the same person at most once per :data:`MIN_REPUBLISH_S` seconds (``views.publish`` is
rate limited), except right after they changed something on it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.orm import Session

from bot.listeners._shared import workspace_id
from bot.listeners.cases_review import review_message, reviewer_status
from bot.listeners.shortcuts import open_ask_form
from bot.messages import app_home
from bot.runtime.services import Services
from bot.schedule.cron import JOB_BENCHMARK, JOB_DIGEST, build_schedules
from bot.slack.errors import slack_error_code
from evals.cases.schema import CaseStatus
from evals.records import ConsensusStatus
from storage import case_repo, digest_queries, panel_runs_repo

log = logging.getLogger(__name__)

#: Seconds before the same person's Home is republished on another ``app_home_opened``.
MIN_REPUBLISH_S = 5.0
#: Production numbers on the Home tab cover this many days.
WINDOW_DAYS = 30
#: How far back the latest benchmark of a model is looked for.
EVAL_LOOKBACK = timedelta(days=365)
RECENT_QUESTIONS = 5

_JOB_NAMES = {JOB_BENCHMARK: "Next benchmark", JOB_DIGEST: "Next digest"}
_JOB_HINTS = {
    JOB_BENCHMARK: "Set `schedule.benchmark` in quorum.yaml to run it on a schedule.",
    JOB_DIGEST: "Set `schedule.digest` in quorum.yaml to post one every week.",
}


def gather(
    session: Session,
    services: Services,
    user_id: str,
    now: datetime,
    review_page: int | None,
    note: str | None = None,
    *,
    workspace: str,
) -> app_home.HomeData:
    """Everything the Home tab shows ``user_id`` in ``workspace`` (from its rows only);
    ``review_page`` None: not a reviewer."""
    ws = workspace
    since = now - timedelta(days=WINDOW_DAYS)
    benchmarks = digest_queries.eval_runs(session, now - EVAL_LOOKBACK, now, workspace=ws)
    evals = {model: runs[-1] for model, runs in benchmarks.items() if runs}
    thumbs = digest_queries.thumbs_by_model(session, since, now, workspace=ws)
    stats = {
        s.member: s for s in panel_runs_repo.model_stats(session, since, workspace=ws, until=now)
    }
    roles = {m.name: "panel" for m in services.members}
    roles.update({m.name: "shadow" for m in services.shadow if m.name not in roles})
    for name in sorted(evals):
        roles.setdefault(name, "benchmark only")
    models = []
    for name, role in roles.items():
        dated = evals.get(name)
        st = stats.get(name)
        th = thumbs.get(name, digest_queries.Thumbs())
        models.append(
            app_home.ModelVerdict(
                model=name,
                role=role,
                eval_passed=dated.result.passed if dated else None,
                eval_n=dated.result.n if dated else None,
                eval_at=dated.started_at if dated else None,
                thumbs_up=th.up,
                thumbs_down=th.down,
                answers=st.answers if st else 0,
                mean_cost_usd=st.mean_cost_usd if st else None,
            )
        )
    questions = [
        app_home.RecentQuestion(
            run_id=r.id,
            question=r.question,
            asked_at=r.created_at,
            confidence=r.confidence,
            has_consensus=r.status is not ConsensusStatus.NONE,
            link=digest_queries.slack_link(r.channel_id, r.message_ts),
        )
        for r in panel_runs_repo.runs_asked_by(
            session, user_id, workspace=ws, limit=RECENT_QUESTIONS
        )
    ]
    schedules = {s.job: s for s in build_schedules(services.config)}
    jobs = [
        app_home.NextJob(
            _JOB_NAMES[job],
            schedules[job].next_fire(now) if job in schedules else None,
            _JOB_HINTS[job],
        )
        for job in (JOB_BENCHMARK, JOB_DIGEST)
    ]
    total = case_repo.list_cases(session, workspace=ws, status=CaseStatus.PROPOSED, limit=1).total
    review = (
        review_message(session, review_page, note, workspace=ws)["blocks"]
        if review_page is not None
        else None
    )
    return app_home.HomeData(
        user_id=user_id,
        models=models,
        window_days=WINDOW_DAYS,
        questions=questions,
        next_jobs=jobs,
        review=review,
        review_total=total,
    )


class HomePublisher:
    """Publishes a person's Home tab, at most once per ``min_interval_s`` unless forced."""

    def __init__(
        self,
        services: Services,
        *,
        min_interval_s: float = MIN_REPUBLISH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.services = services
        self.min_interval_s = min_interval_s
        self.clock = clock
        self._last: dict[tuple[str, str], float] = {}

    async def publish(
        self,
        client: AsyncWebClient,
        workspace: str,
        user_id: str,
        *,
        review_page: int = 1,
        note: str | None = None,
        force: bool = False,
    ) -> bool:
        """True when a view was published (False: too soon, or Slack refused it)."""
        key = (workspace, user_id)
        last = self._last.get(key)
        if not force and last is not None and self.clock() - last < self.min_interval_s:
            log.debug("Home of %s published %.1f s ago; not again", user_id, self.clock() - last)
            return False
        self._last[key] = self.clock()
        reviewer = await reviewer_status(self.services, client, user_id) == "yes"
        now = self.services.clock.now()

        def read() -> app_home.HomeData:
            with self.services.db.session() as session:
                page = review_page if reviewer else None
                return gather(session, self.services, user_id, now, page, note, workspace=workspace)

        try:
            data = await asyncio.to_thread(read)
        except Exception:
            log.warning("could not read what the Home tab of %s shows", user_id, exc_info=True)
            return False
        try:
            await client.views_publish(user_id=user_id, view=app_home.home_view(data))
        except SlackApiError as exc:
            log.warning("Slack refused the Home tab of %s: %s", user_id, slack_error_code(exc))
            return False
        return True

    async def refresh(
        self, client: AsyncWebClient, workspace: str, user_id: str, page: int, note: str | None
    ) -> None:
        """After a change made on the Home tab: republish it at once."""
        await self.publish(client, workspace, user_id, review_page=page, note=note, force=True)


def register(app: AsyncApp, services: Services, publisher: HomePublisher) -> None:
    @app.event("app_home_opened")
    async def on_home_opened(
        event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        if event.get("tab", "home") != "home":
            return  # the Messages tab: nothing to publish
        workspace = workspace_id(body)
        if workspace is None:
            return
        await publisher.publish(client, workspace, event["user"])

    @app.action(app_home.ACTION_HOME_ASK)
    async def on_home_ask(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await open_ask_form(services, client, body)
