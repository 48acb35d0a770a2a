"""Installing Quorum into any workspace over OAuth, end to end: a browser on the bot's
real install pages, the fake Slack's approval page and ``oauth.v2.access``, rows in the
database, then signed requests from each workspace answered with that workspace's own
token; installs that go wrong; Enterprise Grid; Socket Mode."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from sqlalchemy import update

from bot.server import serve_socket_mode
from bot.slack.installations import InstalledWorkspaces
from bot.slack.oauth import INSTALL_PATH, REDIRECT_PATH, installed_workspaces
from bot.slack.workspaces import Workspace
from storage.tables.panel_runs import PanelRunRow, SignalRow
from storage.tables.slack_installations import slack_bots, slack_installations, slack_oauth_states
from tests.bot.conftest import SECRET, Bot
from tests.bot.slack.oauth_flow import (
    base,
    free_port,
    get,
    install,
    oauth_env,
    rows,
    script,
    start_install,
    tokens_used,
)
from tests.fakes import slack_requests as sr
from tests.fakes.slack_api import FakeSlackAPI


async def test_two_workspaces_install_and_each_is_answered_with_its_own_token(
    two_workspaces: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = two_workspaces
    caplog.set_level(logging.INFO)
    bots = rows(bot, slack_bots)
    assert {(b.team_id, b.team_name) for b in bots} == {("T0AAA", "Alpha"), ("T0BBB", "Beta")}
    assert all(b.bot_token and b.bot_user_id == f"UBOT{b.team_id}" for b in bots)
    assert {i.team_id for i in rows(bot, slack_installations)} == {"T0AAA", "T0BBB"}
    assert rows(bot, slack_oauth_states) == []  # each state was used up
    exchange = bot.slack.calls_to("oauth.v2.access")
    assert len(exchange) == 2 and all(c.body["code"].startswith("code-") for c in exchange)

    for team in ("T0AAA", "T0BBB"):
        script(bot)
        before = len(bot.slack.calls)
        reply = await bot.command("Capital of France?", team_id=team)
        assert reply.status == 200
        await bot.settle()
        assert tokens_used(bot, before) == {team}
        posted = [c for c in bot.slack.calls[before:] if c.method == "chat.postMessage"]
        assert posted and "Paris" in str(posted[-1].body)
    runs = bot.rows(PanelRunRow)
    assert sorted(r.team_id for r in runs) == ["T0AAA", "T0BBB"]

    # Tokens and the client secret reach neither the logs nor any page.
    secrets = [b.bot_token for b in bots] + [bot.slack.client_secret]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not [s for s in secrets if s in logged]


async def test_the_directory_lists_installed_workspaces_with_their_clients(
    two_workspaces: Bot,
) -> None:
    bot = two_workspaces
    directory = installed_workspaces(bot.services)
    assert isinstance(directory, InstalledWorkspaces)
    assert await directory.installed() == [Workspace("T0AAA"), Workspace("T0BBB")]
    client = await directory.client_for(Workspace("T0BBB"))
    assert client is not None
    answer = await client.auth_test()
    assert answer["team_id"] == "T0BBB"
    assert bot.slack.workspace_of(client.token) == "T0BBB"
    assert await directory.client_for(Workspace("T0NONE")) is None


# -- an install that goes wrong: a page that says what to do, never a 500 -------------


async def test_a_declined_install_says_nothing_was_installed(
    two_workspaces: Bot, browser: aiohttp.ClientSession
) -> None:
    bot = two_workspaces
    bot.slack.add_workspace("T0CCC", "Gamma")
    bot.slack.deny_next = True
    page = await install(bot, browser, "T0CCC")
    assert page.status == 200
    assert "Installation cancelled" in page.text and "nothing was installed" in page.text
    assert "T0CCC" not in {b.team_id for b in rows(bot, slack_bots)}


async def test_replayed_expired_and_cookieless_callbacks_get_friendly_pages(
    two_workspaces: Bot, browser: aiohttp.ClientSession
) -> None:
    bot = two_workspaces
    bot.slack.add_workspace("T0CCC", "Gamma")
    redirect = f"{base(bot)}{REDIRECT_PATH}"

    # no cookie: the callback did not start in this browser
    link, cookie = await start_install(bot, browser, "T0CCC")
    back = (await get(browser, link)).headers["Location"]
    page = await get(browser, back)
    assert page.status == 400 and "Please start from the install link" in page.text

    # the right cookie, once: installed; the same callback replayed: expired link
    link, cookie = await start_install(bot, browser, "T0CCC")
    back = (await get(browser, link)).headers["Location"]
    assert (await get(browser, back, cookie)).status == 200
    replay = await get(browser, back, cookie)
    assert replay.status == 401 and "This install link has expired" in replay.text

    # a state older than its 10 minutes
    link, cookie = await start_install(bot, browser, "T0CCC")
    with bot.db.engine.begin() as conn:
        conn.execute(update(slack_oauth_states).values(expire_at=datetime(2020, 1, 1)))
    back = (await get(browser, link)).headers["Location"]
    expired = await get(browser, back, cookie)
    assert expired.status == 401 and "This install link has expired" in expired.text

    # a code Slack does not know, and a callback without one
    link, cookie = await start_install(bot, browser, "T0CCC")
    state = re.search(r"state=([^&]+)", link)
    assert state is not None
    forged = await get(browser, f"{redirect}?code=made-up&state={state.group(1)}", cookie)
    assert forged.status == 401 and "Slack refused the approval" in forged.text
    for failed in (page, replay, expired, forged):
        assert failed.headers["Content-Type"].startswith("text/html")
        assert "Start again" in failed.text and "Traceback" not in failed.text


async def test_a_wrong_client_secret_is_a_failed_install_not_a_crash(
    bot_factory: Callable[..., Any],
    fake_slack: FakeSlackAPI,
    browser: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    fake_slack.add_workspace("T0AAA", "Alpha")
    wrong = "wrong-secret-abcdefghijklmnop"
    bot: Bot = await bot_factory(env=oauth_env(fake_slack, slack_client_secret=wrong))
    fake_slack.redirect_url = f"{base(bot)}{REDIRECT_PATH}"
    page = await install(bot, browser, "T0AAA")
    assert page.status == 401 and "Slack did not confirm the installation" in page.text
    assert rows(bot, slack_bots) == []
    assert wrong not in "\n".join(r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "query",
    [
        "?" + "a" * 20_000,
        "?code=%ZZ%00&state=%FF%FE",
        "?state=" + "s" * 5000 + "&code=" + "c" * 5000,
        "?error=<script>alert(1)</script>",
        "?code=x&state=y&state=z&code=w",
    ],
)
async def test_hostile_callbacks_get_a_page_not_a_500(
    two_workspaces: Bot, browser: aiohttp.ClientSession, query: str
) -> None:
    bot = two_workspaces
    for path in (REDIRECT_PATH, INSTALL_PATH):
        page = await get(browser, f"{base(bot)}{path}{query}", cookie="whatever")
        assert page.status < 500, page.text[:300]
        assert "<script>" not in page.text
    assert len(rows(bot, slack_bots)) == 2


async def test_a_team_hint_that_is_not_a_slack_id_is_dropped(
    two_workspaces: Bot, browser: aiohttp.ClientSession
) -> None:
    bot = two_workspaces
    page = await get(browser, f"{base(bot)}{INSTALL_PATH}?team=T1%26redirect_uri%3Dhttps://evil")
    assert page.status == 200
    assert "evil" not in page.text and "team=" not in page.text


# -- Enterprise Grid --------------------------------------------------------------------


async def test_an_org_wide_install_answers_every_workspace_of_the_org(
    bot_factory: Callable[..., Any], fake_slack: FakeSlackAPI, browser: aiohttp.ClientSession
) -> None:
    fake_slack.add_workspace(
        "E0ORG", "Acme", enterprise_id="E0ORG", enterprise_name="Acme Corp", org_wide=True
    )
    bot: Bot = await bot_factory(env=oauth_env(fake_slack))
    fake_slack.redirect_url = f"{base(bot)}{REDIRECT_PATH}"
    page = await install(bot, browser, "E0ORG")
    assert page.status == 200 and "Acme Corp" in page.text
    (stored,) = rows(bot, slack_bots)
    assert (stored.enterprise_id, stored.team_id, stored.is_enterprise_install) == (
        "E0ORG",
        None,
        True,
    )

    for team in ("T0ORG1", "T0ORG2"):
        script(bot)
        before = len(bot.slack.calls)
        await bot.command(
            "Capital of France?", team_id=team, enterprise_id="E0ORG", is_enterprise_install=True
        )
        await bot.settle()
        assert tokens_used(bot, before) == {"E0ORG"}
        assert [c for c in bot.slack.calls[before:] if c.method == "chat.postMessage"]

    # A reaction in an org-wide install: its authorization names no team, the envelope
    # does; it counts on the run of the workspace it happened in.
    org1 = next(r for r in bot.rows(PanelRunRow) if r.workspace_id == "T0ORG1")
    assert org1.message_ts is not None
    event = sr.envelope(
        sr.reaction("+1", item_ts=org1.message_ts, channel=str(org1.channel_id)),
        team_id="T0ORG1",
        enterprise_id="E0ORG",
        is_enterprise_install=True,
    )
    assert (await bot.send(sr.signed_json(SECRET, event))).status == 200
    await bot.settle()
    assert [(s.run_id, s.workspace_id, s.kind) for s in bot.rows(SignalRow)] == [
        (org1.id, "T0ORG1", "up")
    ]

    # The scheduler's directory: the org, and each of its workspaces that asked (their
    # data is kept apart by team, so each gets its own digest), all with the org's token.
    directory = installed_workspaces(bot.services)
    assert directory is not None
    assert await directory.installed() == [
        Workspace("E0ORG", "E0ORG"),
        Workspace("T0ORG1", "E0ORG"),
        Workspace("T0ORG2", "E0ORG"),
    ]
    for workspace in await directory.installed():
        client = await directory.client_for(workspace)
        assert client is not None and fake_slack.workspace_of(client.token) == "E0ORG"
    assert await directory.client_for(Workspace("T0OTHER", "E0OTHER")) is None


async def test_a_database_that_does_not_answer_is_said_plainly(two_workspaces: Bot) -> None:
    bot = two_workspaces
    bot.db.down = True
    bot.services.db_guard.state = "degraded"  # as after a timed-out call
    reply = await bot.command("Capital of France?", team_id="T0AAA")
    assert reply.status == 200
    assert "can't reach its database" in reply.text and "ref " in reply.text


# -- Socket Mode ------------------------------------------------------------------------


async def test_socket_mode_serves_the_install_pages_and_answers_each_workspace(
    bot_factory: Callable[..., Any], fake_slack: FakeSlackAPI, browser: aiohttp.ClientSession
) -> None:
    fake_slack.add_workspace("T0AAA", "Alpha")
    port = free_port()
    env = oauth_env(fake_slack, slack_app_token="xapp-1-test", port=port)
    bot: Bot = await bot_factory(env=env)
    bot.pages = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    fake_slack.redirect_url = f"{bot.pages}{REDIRECT_PATH}"  # type: ignore[attr-defined]
    serving = asyncio.create_task(serve_socket_mode(bot.services))
    try:
        assert await fake_slack.async_wait_for(lambda s: s.socket_clients() == 1)
        assert (await install(bot, browser, "T0AAA")).status == 200
        # Slack's requests come through the socket, not over this HTTP server
        async with browser.post(f"{bot.pages}/slack/events", data="{}") as resp:  # type: ignore[attr-defined]
            assert resp.status in (404, 405)

        script(bot)
        before = len(fake_slack.calls)
        form = sr.slash_command_form("Capital of France?", team_id="T0AAA")
        form["response_url"] = fake_slack.response_url("cmd")
        fake_slack.send_socket_envelope(
            {"envelope_id": "env-a", "type": "slash_commands", "payload": form}
        )
        await bot.settle()
        assert any(a.get("envelope_id") == "env-a" for a in fake_slack.socket_acks)
        assert tokens_used(bot, before) == {"T0AAA"}
        assert [c for c in fake_slack.calls[before:] if c.method == "chat.postMessage"]
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
