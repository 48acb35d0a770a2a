"""Installing Quorum into any workspace over OAuth, end to end: a browser on the bot's
real install pages, the fake Slack's approval page and ``oauth.v2.access``, rows in the
database, then signed requests from each workspace answered with that workspace's own
token; uninstalling one leaves the other working."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update

from bot.server import serve_socket_mode
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
    """Where the bot serves its pages (``bot.pages``: another server, in Socket Mode)."""
    return getattr(bot, "pages", None) or f"http://127.0.0.1:{bot.server.port}"


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
    done = await get(browser, back, cookie)
    assert "xox" not in done.text and bot.slack.client_secret not in done.text
    return done


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


# -- leaving: uninstall, revoked tokens -------------------------------------------------


def uninstalled(bot: Bot, team: str) -> sr.SignedRequest:
    bot.slack.revoke(team)  # what Slack does to the tokens
    return sr.event_envelope(SECRET, {"type": "app_uninstalled"}, team_id=team)


async def ask(bot: Bot, team: str) -> int:
    """/compare from ``team``; returns the index of the first Slack call it caused."""
    script(bot)
    before = len(bot.slack.calls)
    reply = await bot.command("Capital of France?", team_id=team)
    assert reply.status == 200
    await bot.settle()
    return before


async def test_uninstalling_one_workspace_leaves_the_other_working(two_workspaces: Bot) -> None:
    bot = two_workspaces
    await ask(bot, "T0AAA")
    await ask(bot, "T0BBB")
    reply = await bot.send(uninstalled(bot, "T0AAA"))
    assert reply.status == 200
    await bot.settle()
    assert {b.team_id for b in rows(bot, slack_bots)} == {"T0BBB"}
    assert {i.team_id for i in rows(bot, slack_installations)} == {"T0BBB"}
    # QUORUM_UNINSTALL_DATA=keep (the default): A's runs are still there
    assert sorted(r.team_id for r in bot.rows(PanelRunRow)) == ["T0AAA", "T0BBB"]

    # A asks again: told politely, through the command's response URL; nothing posted
    before = await ask(bot, "T0AAA")
    told = bot.slack.response_url_posts("cmd")
    assert told and told[-1]["text"] == NOT_INSTALLED
    assert not [c for c in bot.slack.calls[before:] if c.method == "chat.postMessage"]

    before = await ask(bot, "T0BBB")
    assert tokens_used(bot, before) == {"T0BBB"}
    assert len(bot.rows(PanelRunRow)) == 3


async def test_uninstall_with_delete_removes_that_workspaces_data_only(
    bot_factory: Callable[..., Any],
    fake_slack: FakeSlackAPI,
    browser: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    for team, name in (("T0AAA", "Alpha"), ("T0BBB", "Beta")):
        fake_slack.add_workspace(team, name)
    bot: Bot = await bot_factory(env=oauth_env(fake_slack, quorum_uninstall_data="delete"))
    fake_slack.redirect_url = f"{base(bot)}{REDIRECT_PATH}"
    for team in ("T0AAA", "T0BBB"):
        assert (await install(bot, browser, team)).status == 200
        await ask(bot, team)
        await ask(bot, team)
    assert len(bot.rows(PanelRunRow)) == 4
    await bot.send(uninstalled(bot, "T0AAA"))
    await bot.settle()
    assert sorted(r.team_id for r in bot.rows(PanelRunRow)) == ["T0BBB", "T0BBB"]
    assert {b.team_id for b in rows(bot, slack_bots)} == {"T0BBB"}
    assert "deleted workspace T0AAA's data" in caplog.text and "2 panel_runs" in caplog.text


async def test_revoked_user_tokens_keep_the_bot_revoked_bot_token_removes_it(
    two_workspaces: Bot,
) -> None:
    bot = two_workspaces
    revoked_users = {"type": "tokens_revoked", "tokens": {"oauth": ["U0ADMIN"]}}
    await bot.send(sr.event_envelope(SECRET, revoked_users, team_id="T0AAA"))
    await bot.settle()
    assert {i.team_id for i in rows(bot, slack_installations)} == {"T0BBB"}
    assert {b.team_id for b in rows(bot, slack_bots)} == {"T0AAA", "T0BBB"}
    before = await ask(bot, "T0AAA")  # the bot still answers with A's bot token
    assert tokens_used(bot, before) == {"T0AAA"}

    revoked_bot = {"type": "tokens_revoked", "tokens": {"bot": ["UBOTT0BBB"]}}
    await bot.send(sr.event_envelope(SECRET, revoked_bot, team_id="T0BBB"))
    await bot.settle()
    assert {b.team_id for b in rows(bot, slack_bots)} == {"T0AAA"}


# -- token rotation ---------------------------------------------------------------------


async def test_rotating_tokens_are_refreshed_through_oauth_v2_access(
    bot_factory: Callable[..., Any], fake_slack: FakeSlackAPI, browser: aiohttp.ClientSession
) -> None:
    fake_slack.add_workspace("T0AAA", "Alpha")
    fake_slack.token_rotation = True
    fake_slack.token_lifetime_s = 3600  # within the 2 hours before expiry Quorum refreshes in
    bot: Bot = await bot_factory(env=oauth_env(fake_slack))
    fake_slack.redirect_url = f"{base(bot)}{REDIRECT_PATH}"
    assert (await install(bot, browser, "T0AAA")).status == 200
    (stored,) = rows(bot, slack_bots)
    assert stored.bot_refresh_token.startswith("xoxe-1-") and stored.bot_token_expires_at
    first = stored.bot_token

    before = await ask(bot, "T0AAA")
    refreshes = [c for c in fake_slack.calls_to("oauth.v2.access") if c.body.get("grant_type")]
    assert len(refreshes) == 1
    assert refreshes[0].body["grant_type"] == "refresh_token"
    assert refreshes[0].body["refresh_token"] == stored.bot_refresh_token
    posts = [c for c in fake_slack.calls[before:] if c.method == "chat.postMessage"]
    assert posts and {c.token for c in posts} != {first}
    assert all(fake_slack.workspace_of(c.token) == "T0AAA" for c in posts)
    (latest,) = [b for b in rows(bot, slack_bots) if b.bot_token == posts[0].token]
    assert latest.bot_refresh_token != stored.bot_refresh_token

    # the scheduler's way in refreshes too (the new token also has under two hours left)
    directory = installed_workspaces(bot.services)
    assert directory is not None
    client = await directory.client_for(Workspace("T0AAA"))
    assert client is not None and client.token not in {first, posts[0].token}
    assert fake_slack.workspace_of(client.token) == "T0AAA"
    assert (await client.auth_test())["team_id"] == "T0AAA"
    refreshes = [c for c in fake_slack.calls_to("oauth.v2.access") if c.body.get("grant_type")]
    assert len(refreshes) == 2


async def test_a_refused_refresh_is_a_polite_refusal(
    bot_factory: Callable[..., Any], fake_slack: FakeSlackAPI, browser: aiohttp.ClientSession
) -> None:
    fake_slack.add_workspace("T0AAA", "Alpha")
    fake_slack.token_rotation = True
    fake_slack.token_lifetime_s = 3600
    bot: Bot = await bot_factory(env=oauth_env(fake_slack))
    fake_slack.redirect_url = f"{base(bot)}{REDIRECT_PATH}"
    assert (await install(bot, browser, "T0AAA")).status == 200
    fake_slack.fail("oauth.v2.access", error="invalid_refresh_token", times=None)
    before = await ask(bot, "T0AAA")
    assert not [c for c in fake_slack.calls[before:] if c.method == "chat.postMessage"]
    assert bot.slack.response_url_posts("cmd")[-1]["text"] == NOT_INSTALLED


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

    directory = installed_workspaces(bot.services)
    assert directory is not None
    assert await directory.installed() == [Workspace("E0ORG", "E0ORG")]
    client = await directory.client_for(Workspace("E0ORG", "E0ORG"))
    assert client is not None and fake_slack.workspace_of(client.token) == "E0ORG"


@pytest.mark.parametrize(
    "event",
    [
        {"type": "tokens_revoked"},
        {"type": "tokens_revoked", "tokens": "all of them"},
        {"type": "tokens_revoked", "tokens": {"bot": "UBOTT0AAA"}},
        {"type": "tokens_revoked", "tokens": {"oauth": [1, None]}},
    ],
)
async def test_a_malformed_revocation_removes_nothing_and_logs_no_traceback(
    two_workspaces: Bot, event: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    bot = two_workspaces
    reply = await bot.send(sr.event_envelope(SECRET, event, team_id="T0AAA"))
    await bot.settle()
    assert reply.status == 200
    assert {b.team_id for b in rows(bot, slack_bots)} == {"T0AAA", "T0BBB"}
    assert not [r for r in caplog.records if r.exc_info]


async def test_a_database_that_does_not_answer_is_said_plainly(two_workspaces: Bot) -> None:
    bot = two_workspaces
    bot.db.down = True
    bot.services.db_guard.state = "degraded"  # as after a timed-out call
    reply = await bot.command("Capital of France?", team_id="T0AAA")
    assert reply.status == 200
    assert "can't reach its database" in reply.text and "ref " in reply.text


# -- Socket Mode ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


async def test_single_workspace_mode_applies_the_data_setting_on_uninstall(
    bot_factory: Callable[..., Any],
) -> None:
    bot: Bot = await bot_factory(env={"quorum_uninstall_data": "delete"})
    script(bot)
    await bot.command("Capital of France?")
    await bot.settle()
    assert [r.team_id for r in bot.rows(PanelRunRow)] == [sr.TEAM_ID]
    await bot.event({"type": "app_uninstalled"})
    await bot.settle()
    assert bot.rows(PanelRunRow) == []
