"""Installing Quorum into any workspace over OAuth, end to end: a browser on the bot's
real install pages, the fake Slack's approval page and ``oauth.v2.access``, rows in the
database, then signed requests from each workspace answered with that workspace's own
token; uninstalling one leaves the other working."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from sqlalchemy import delete, select, update

from bot.slack.installations import InstalledWorkspaces
from bot.slack.oauth import INSTALL_PATH, NOT_INSTALLED, REDIRECT_PATH, installed_workspaces
from bot.slack.workspaces import Workspace
from storage.tables.panel_runs import PanelRunRow
from storage.tables.slack_installations import slack_bots, slack_installations, slack_oauth_states
from tests.bot.conftest import SECRET, Bot
from tests.fakes import slack_requests as sr
from tests.fakes.slack_api import FakeSlackAPI

COOKIE = "slack-app-oauth-state"


@dataclass
class Page:
    status: int
    text: str
    headers: Any


def oauth_env(slack: FakeSlackAPI, **more: Any) -> dict[str, Any]:
    return {
        "slack_bot_token": None,
        "slack_client_id": slack.client_id,
        "slack_client_secret": slack.client_secret,
        "slack_authorize_url": slack.authorize_url,
        **more,
    }


@pytest.fixture
async def browser() -> Any:
    """A browser that keeps no cookies of its own (the tests carry the state cookie,
    which is ``Secure`` and would not go over http://127.0.0.1 otherwise)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


async def get(browser: aiohttp.ClientSession, url: str, cookie: str | None = None) -> Page:
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
    async with browser.get(url, headers=headers, allow_redirects=False) as resp:
        return Page(resp.status, await resp.text(), resp.headers)


def rows(bot: Bot, table: Any) -> list[Any]:
    """Every row of a Core table, as mappings."""
    with bot.db.engine.connect() as conn:
        return [SimpleNamespace(**row) for row in conn.execute(select(table)).mappings()]


def base(bot: Bot) -> str:
    return f"http://127.0.0.1:{bot.server.port}"


def state_cookie(page: Page) -> str:
    for header in page.headers.getall("Set-Cookie", []):
        match = re.match(rf"{COOKIE}=([^;]+)", header)
        if match:
            return match.group(1)
    raise AssertionError(f"no state cookie in {page.headers}")


async def start_install(bot: Bot, browser: aiohttp.ClientSession, team: str) -> tuple[str, str]:
    """Open the install page: (the link to Slack's approval page, the state cookie)."""
    page = await get(browser, f"{base(bot)}{INSTALL_PATH}?team={team}")
    assert page.status == 200, page.text
    assert "Add Quorum to your Slack workspace" in page.text
    (link,) = re.findall(r'href="([^"]+)"', page.text)
    return link.replace("&amp;", "&"), state_cookie(page)


async def install(bot: Bot, browser: aiohttp.ClientSession, team: str) -> Page:
    """The whole flow as a person clicks through it; returns the last page."""
    link, cookie = await start_install(bot, browser, team)
    assert link.startswith(bot.slack.authorize_url)
    approval = await get(browser, link)
    assert approval.status == 302
    back = approval.headers["Location"]
    assert back.startswith(f"{base(bot)}{REDIRECT_PATH}?")
    return await get(browser, back, cookie)


@pytest.fixture
async def two_workspaces(
    bot_factory: Callable[..., Any], fake_slack: FakeSlackAPI, browser: aiohttp.ClientSession
) -> Bot:
    fake_slack.add_workspace("T0AAA", "Alpha")
    fake_slack.add_workspace("T0BBB", "Beta")
    bot: Bot = await bot_factory(env=oauth_env(fake_slack))
    fake_slack.redirect_url = f"{base(bot)}{REDIRECT_PATH}"
    for team, name in (("T0AAA", "Alpha"), ("T0BBB", "Beta")):
        done = await install(bot, browser, team)
        assert done.status == 200, done.text
        assert "Quorum is installed" in done.text and f"“{name}”" in done.text
    return bot


def script(bot: Bot) -> None:
    for member in ("alpha", "beta", "gamma"):
        bot.models.script(member, "Paris.", latency=0.01)


def tokens_used(bot: Bot, since: int = 0) -> set[str | None]:
    """Whose tokens the bot posted with (workspace ids), from call ``since`` on."""
    return {
        bot.slack.workspace_of(c.token)
        for c in bot.slack.calls[since:]
        if c.method.startswith(("chat.", "conversations.", "views.", "users."))
    }


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
