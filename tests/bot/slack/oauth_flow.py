"""Driving an OAuth install as a person does: a browser on the bot's install pages, the
fake Slack's approval page, back to the bot with the state cookie."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp
from sqlalchemy import select

from bot.slack.oauth import INSTALL_PATH, REDIRECT_PATH
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
