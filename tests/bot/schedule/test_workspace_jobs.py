"""Scheduled jobs per workspace: each digest is built from its workspace's rows only,
posted with that workspace's client to that workspace's channel, once per (workspace,
job, period)."""

from __future__ import annotations

import json

from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime.workspaces import Workspace
from bot.schedule import jobs
from storage import job_repo, workspace_repo
from storage.db import Database
from storage.tables.jobs import JobStatus
from tests.bot.digest_seed import (
    DIGEST_CHANNEL,
    DIGEST_FIRE,
    make_services,
    seed_evals,
    seed_production,
)
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import TEAM_ID

A, B = TEAM_ID, "T0BRAVO"
A_CHANNEL = "C0ADIGEST"


class TwoWorkspaces:
    """The directory an OAuth install gives: two workspaces, each its own token."""

    def __init__(self, slack_url: str) -> None:
        self.clients = {
            A: AsyncWebClient(token="xoxb-alpha", base_url=slack_url),
            B: AsyncWebClient(token="xoxb-bravo", base_url=slack_url),
        }

    async def installed(self) -> list[Workspace]:
        return [Workspace(A), Workspace(B)]

    async def client_for(self, workspace: Workspace) -> AsyncWebClient | None:
        return self.clients.get(workspace.id)


def _posts(fake_slack: FakeSlackAPI, method: str) -> dict[str, tuple[str | None, str]]:
    """channel -> (token, everything posted there as text)."""
    return {
        str(c.body["channel"] if "channel" in c.body else c.body.get("channel_id")): (
            c.token,
            json.dumps(c.body, ensure_ascii=False, default=str),
        )
        for c in fake_slack.calls_to(method)
    }


async def test_each_workspace_gets_its_own_digest_with_its_own_client(
    sqlite_db: Database, fake_slack: FakeSlackAPI
) -> None:
    seed_production(sqlite_db, workspace=A, label="Alpha ")
    seed_evals(sqlite_db)  # A's benchmarks
    seed_production(sqlite_db, workspace=B, label="Bravo ")
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    services.workspaces = TwoWorkspaces(fake_slack.url)
    with sqlite_db.session() as s:
        workspace_repo.set_channel(s, A, purpose="digest", channel_id=A_CHANNEL)

    outcomes = await jobs.run_for_all(services, "digest", scheduled_for=DIGEST_FIRE)

    assert sorted((o.workspace, o.status) for o in outcomes) == sorted(
        [(A, JobStatus.DONE), (B, JobStatus.DONE)]
    )
    posted = _posts(fake_slack, "chat.postMessage")
    assert set(posted) == {A_CHANNEL, DIGEST_CHANNEL}
    a_token, a_digest = posted[A_CHANNEL]
    b_token, b_digest = posted[DIGEST_CHANNEL]
    assert a_token == "xoxb-alpha" and b_token == "xoxb-bravo"
    assert "Alpha Proposed question" in a_digest and "Bravo" not in a_digest
    assert "Bravo Proposed question" in b_digest and "Alpha" not in b_digest
    # A's benchmarks are A's: B's digest leads with no eval change.
    went_up = "eval pass rate went up 50 pts"
    assert went_up in a_digest and went_up not in b_digest
    uploads = [
        (c.token, c.body.get("channel_id") or c.body.get("channels"))
        for c in fake_slack.calls
        if c.method.startswith("files.")
    ]
    assert uploads, "the charts were not uploaded"
    assert {t for t, _ in uploads} == {"xoxb-alpha", "xoxb-bravo"}
    for workspace in (A, B):
        period = job_repo.get_period(services.db, "digest", "2026-W48", workspace=workspace)
        assert period is not None and period.status is JobStatus.DONE

    again = await jobs.run_for_all(services, "digest", scheduled_for=DIGEST_FIRE)
    assert [o.ran for o in again] == [False, False]  # once per workspace and period


async def test_a_workspace_with_no_client_fails_alone(
    sqlite_db: Database, fake_slack: FakeSlackAPI
) -> None:
    seed_production(sqlite_db, workspace=A, label="Alpha ")
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    directory = TwoWorkspaces(fake_slack.url)
    del directory.clients[B]  # uninstalled meanwhile
    services.workspaces = directory
    outcomes = {
        o.workspace: o
        for o in await jobs.run_for_all(services, "digest", scheduled_for=DIGEST_FIRE)
    }
    assert outcomes[A].status is JobStatus.DONE
    assert outcomes[B].status is JobStatus.FAILED and "No Slack client" in outcomes[B].detail
    (only,) = fake_slack.calls_to("chat.postMessage")
    assert only.token == "xoxb-alpha"
