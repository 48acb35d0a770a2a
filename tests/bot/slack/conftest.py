"""Fixtures for the OAuth install tests: a cookie-less browser, two installed workspaces."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from bot.slack.oauth import REDIRECT_PATH
from tests.bot.conftest import Bot
from tests.bot.slack.oauth_flow import (
    base,
    install,
    oauth_env,
)
from tests.fakes.slack_api import FakeSlackAPI


@pytest.fixture
async def browser() -> Any:
    """A browser that keeps no cookies of its own (the tests carry the state cookie,
    which is ``Secure`` and would not go over http://127.0.0.1 otherwise)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


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
