"""Workspaces leaving (uninstall, revoked tokens) and staying (rotating tokens), end to
end over the real OAuth install."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from bot.slack.oauth import NOT_INSTALLED, REDIRECT_PATH, installed_workspaces
from bot.slack.workspaces import Workspace
from storage.tables.panel_runs import PanelRunRow
from storage.tables.slack_installations import slack_bots, slack_installations
from tests.bot.conftest import SECRET, Bot
from tests.bot.slack.oauth_flow import (
    ask,
    base,
    install,
    oauth_env,
    rows,
    script,
    tokens_used,
    uninstalled,
)
from tests.fakes import slack_requests as sr
from tests.fakes.slack_api import FakeSlackAPI

# -- leaving: uninstall, revoked tokens -------------------------------------------------


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
    # someone else (another copy of the app) uses the stored refresh token first
    (stored,) = rows(bot, slack_bots)
    directory = installed_workspaces(bot.services)
    assert directory is not None
    used = await directory.client.oauth_v2_access(
        client_id=fake_slack.client_id,
        client_secret=fake_slack.client_secret,
        grant_type="refresh_token",
        refresh_token=stored.bot_refresh_token,
    )
    assert used["ok"]
    before = await ask(bot, "T0AAA")
    refused = fake_slack.calls_to("oauth.v2.access")[-1]
    assert refused.body["refresh_token"] == stored.bot_refresh_token
    assert not [c for c in fake_slack.calls[before:] if c.method == "chat.postMessage"]
    assert bot.slack.response_url_posts("cmd")[-1]["text"] == NOT_INSTALLED
    assert await directory.client_for(Workspace("T0AAA")) is None  # the scheduler skips it


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


@pytest.mark.postgres
async def test_install_answer_and_uninstall_on_postgresql(
    bot_factory: Callable[..., Any],
    fake_slack: FakeSlackAPI,
    browser: aiohttp.ClientSession,
    empty_postgres_url: str,
) -> None:
    fake_slack.add_workspace("T0AAA", "Alpha")
    fake_slack.add_workspace("T0BBB", "Beta")
    fake_slack.token_rotation = True
    fake_slack.token_lifetime_s = 3600
    env = oauth_env(fake_slack, quorum_uninstall_data="delete")
    bot: Bot = await bot_factory(database_url=empty_postgres_url, env=env)
    fake_slack.redirect_url = f"{base(bot)}{REDIRECT_PATH}"
    for team in ("T0AAA", "T0BBB"):
        assert (await install(bot, browser, team)).status == 200
        before = await ask(bot, team)
        assert tokens_used(bot, before) == {team}
    await bot.send(uninstalled(bot, "T0AAA"))
    await bot.settle()
    assert [r.team_id for r in bot.rows(PanelRunRow)] == ["T0BBB"]
    assert {b.team_id for b in rows(bot, slack_bots)} == {"T0BBB"}
    before = await ask(bot, "T0BBB")
    assert tokens_used(bot, before) == {"T0BBB"}


async def test_an_org_wide_uninstall_with_delete_removes_each_of_its_workspaces_data(
    bot_factory: Callable[..., Any], fake_slack: FakeSlackAPI, browser: aiohttp.ClientSession
) -> None:
    fake_slack.add_workspace(
        "E0ORG", "Acme", enterprise_id="E0ORG", enterprise_name="Acme Corp", org_wide=True
    )
    fake_slack.add_workspace("T0BBB", "Beta")
    bot: Bot = await bot_factory(env=oauth_env(fake_slack, quorum_uninstall_data="delete"))
    fake_slack.redirect_url = f"{base(bot)}{REDIRECT_PATH}"
    for installer in ("E0ORG", "T0BBB"):
        assert (await install(bot, browser, installer)).status == 200
    for team in ("T0ORG1", "T0ORG2"):
        script(bot)
        await bot.command(
            "Capital of France?", team_id=team, enterprise_id="E0ORG", is_enterprise_install=True
        )
        await bot.settle()
    await ask(bot, "T0BBB")
    # the org's runs are kept apart by workspace, not under the org's id
    assert sorted(r.workspace_id for r in bot.rows(PanelRunRow)) == ["T0BBB", "T0ORG1", "T0ORG2"]
    b_before = [(r.id, r.question, r.consensus_text) for r in bot.rows(PanelRunRow)][-1:]

    bot.slack.revoke("E0ORG")
    event = sr.envelope(
        {"type": "app_uninstalled"},
        team_id="T0ORG1",
        enterprise_id="E0ORG",
        is_enterprise_install=True,
    )
    assert (await bot.send(sr.signed_json(SECRET, event))).status == 200
    await bot.settle()

    assert [(r.id, r.question, r.consensus_text) for r in bot.rows(PanelRunRow)] == b_before
    assert {(b.enterprise_id, b.team_id) for b in rows(bot, slack_bots)} == {(None, "T0BBB")}
    before = await ask(bot, "T0BBB")
    assert tokens_used(bot, before) == {"T0BBB"}
