"""Which workspace a request belongs to (Slack's documented payload shapes), and token
mode's claim of rows stored before workspaces."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import select

from bot.server import serve_http
from bot.slack.workspaces import TokenDirectory, Workspace, claim_for_token, workspace_of
from evals.records import PanelRun
from storage import repo
from storage.db import Database
from storage.records import RunOrigin
from storage.tables.base import UNASSIGNED
from storage.tables.panel_runs import PanelRunRow
from tests.bot.digest_seed import make_services
from tests.bot.slack.oauth_flow import free_port
from tests.fakes.slack_api import FakeSlackAPI
from tests.storage.factories import consensus_for, panel_run

SHAPES: list[tuple[str, dict[str, Any], Workspace | None]] = [
    (
        "slash command",
        {"team_id": "T1", "enterprise_id": "", "command": "/compare"},
        Workspace("T1"),
    ),
    (
        "slash command in a Grid org",
        {"team_id": "T1", "enterprise_id": "E1", "is_enterprise_install": "true"},
        Workspace("T1", "E1"),
    ),
    (
        "event in a shared channel: the receiving installation's team",
        {
            "team_id": "T9",
            "authorizations": [{"team_id": "T1", "enterprise_id": None}],
            "event": {"team": "T9"},
        },
        Workspace("T1"),
    ),
    (
        "event of an org-wide install: the workspace it happened in, as for its commands",
        {
            "team_id": "T1",
            "enterprise_id": "E1",
            "authorizations": [
                {"team_id": None, "enterprise_id": "E1", "is_enterprise_install": True}
            ],
            "event": {"type": "reaction_added"},
        },
        Workspace("T1", "E1"),
    ),
    (
        "org-level event of an org-wide install",
        {
            "enterprise_id": "E1",
            "authorizations": [
                {"team_id": None, "enterprise_id": "E1", "is_enterprise_install": True}
            ],
            "event": {"type": "app_uninstalled"},
        },
        Workspace("E1", "E1"),
    ),
    (
        "block action",
        {"type": "block_actions", "team": {"id": "T2"}, "user": {"team_id": "T2"}},
        Workspace("T2"),
    ),
    (
        "org-level block action of an org-wide install",
        {"type": "block_actions", "team": None, "enterprise": {"id": "E1"}, "user": {}},
        Workspace("E1", "E1"),
    ),
    (
        "modal opened in another workspace of a Slack Connect channel",
        {"type": "view_submission", "team": {"id": "T1"}, "view": {"app_installed_team_id": "T3"}},
        Workspace("T3"),
    ),
    ("nothing names a team", {"type": "block_actions", "user": {"id": "U1"}}, None),
    ("a team of the wrong shape", {"team": 5}, None),
]


@pytest.mark.parametrize(("what", "body", "expected"), SHAPES, ids=[s[0] for s in SHAPES])
def test_workspace_of(what: str, body: dict[str, Any], expected: Workspace | None) -> None:
    assert workspace_of(body) == expected


async def test_token_mode_claims_unassigned_rows_for_the_token_s_workspace_at_start(
    sqlite_db: Database, fake_slack: FakeSlackAPI
) -> None:
    run = _unassigned_run(sqlite_db)
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    assert await claim_for_token(services) == {"panel_runs": 1, "answers": len(run.answers)}
    assert await claim_for_token(services) == {}
    with sqlite_db.session() as s:
        assert repo.get_run(s, 1, workspace=fake_slack.team_id) is not None
    assert len(fake_slack.calls_to("auth.test")) == 1  # asked once per process


async def test_no_claim_without_a_token_or_when_slack_cannot_say(
    sqlite_db: Database, fake_slack: FakeSlackAPI
) -> None:
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    services.settings = services.settings.model_copy(update={"slack_bot_token": None})
    assert await claim_for_token(services) == {}
    fake_slack.fail("auth.test", error="invalid_auth")
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    assert await claim_for_token(services) == {}
    assert fake_slack.calls_to("auth.test")


async def test_the_token_directory_serves_only_its_workspace(fake_slack: FakeSlackAPI) -> None:
    client = AsyncWebClient(token="xoxb-one", base_url=fake_slack.url)
    directory = TokenDirectory(client)
    (mine,) = await directory.installed()
    assert mine.id == fake_slack.team_id
    assert await directory.client_for(Workspace(mine.id)) is client
    assert await directory.client_for(Workspace("T0SOMEONE")) is None


async def test_the_bot_serves_before_slack_says_whose_token_it_is(
    sqlite_db: Database, fake_slack: FakeSlackAPI
) -> None:
    """The start-up claim runs in the background: a Slack slow to answer auth.test
    keeps neither /healthz nor Slack's requests waiting; the rows are claimed after."""
    _unassigned_run(sqlite_db)
    fake_slack.fail("auth.test", delay=2.0)
    services = make_services(sqlite_db, slack_url=fake_slack.url)
    port = free_port()
    serving = asyncio.create_task(serve_http(services, port))
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):  # until the server listens
                try:
                    health = await http.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.02)
            assert health.status == 200
        with sqlite_db.session() as s:  # answered while auth.test still hangs
            assert repo.get_run(s, 1, workspace=UNASSIGNED) is not None
        assert await fake_slack.async_wait_for(
            lambda _: _owner(sqlite_db) == fake_slack.team_id, wait_s=10.0
        )
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving


def _unassigned_run(db: Database) -> PanelRun:
    """A run stored before workspaces existed (no owner yet)."""
    run = panel_run()
    with db.session() as s:
        repo.save_panel_run(
            s,
            run,
            consensus_for(run),
            workspace=UNASSIGNED,
            origin=RunOrigin.CLI,
            requester="me",
            config_hash="h",
        )
    return run


def _owner(db: Database) -> str | None:
    with db.session() as s:
        return s.scalars(select(PanelRunRow.workspace_id)).first()
