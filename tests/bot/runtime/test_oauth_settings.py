"""OAuth settings: what `quorum run` asks for in each mode, the one contradiction it
refuses, the scopes it asks Slack for, and slack_sdk's tables as Quorum declares them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr, ValidationError
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import MetaData, Table

from bot.runtime.preflight import BOTH_MODES, explain, missing_slack, slack_conflict
from bot.runtime.settings import Settings
from bot.slack.oauth import BOT_SCOPES, scopes
from evals.errors import ConfigError
from storage.tables.slack_installations import slack_bots, slack_installations, slack_oauth_states
from tests.cli.test_core_cli import _config, _env, quorum
from tests.fakes.openai_server import FakeOpenAIServer

MANIFEST = Path(__file__).parents[3] / "bot" / "manifest.yaml"


def _settings(**values: object) -> Settings:
    return Settings.model_validate(values)


def test_oauth_in_http_mode_needs_the_client_secret_and_signing_secret_not_a_bot_token() -> None:
    settings = _settings(slack_client_id="1.2")
    names = [m.variable for m in missing_slack(settings, socket_mode=False)]
    assert names == ["SLACK_CLIENT_SECRET", "SLACK_SIGNING_SECRET"]
    assert "SLACK_CLIENT_ID is set" in explain(missing_slack(settings, socket_mode=False))
    ready = _settings(slack_client_id="1.2", slack_client_secret="s", slack_signing_secret="x")
    assert missing_slack(ready, socket_mode=False) == []
    socket = _settings(slack_client_id="1.2", slack_client_secret="s", slack_app_token="xapp-1")
    assert missing_slack(socket, socket_mode=True) == []


def test_a_bot_token_and_a_client_id_together_are_refused_naming_both() -> None:
    both = _settings(slack_bot_token=SecretStr("xoxb-1"), slack_client_id="1.2")
    assert slack_conflict(both) == BOTH_MODES
    assert "SLACK_BOT_TOKEN" in BOTH_MODES and "SLACK_CLIENT_ID" in BOTH_MODES
    assert slack_conflict(_settings(slack_bot_token=SecretStr("xoxb-1"))) is None
    assert slack_conflict(_settings(slack_client_id="1.2")) is None


@pytest.mark.slow
def test_quorum_run_says_which_two_settings_contradict(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    env = _env(
        tmp_path,
        _config(tmp_path, fake_openai, ["alpha"]),
        SLACK_BOT_TOKEN="xoxb-1-abcdefgh",
        SLACK_CLIENT_ID="1111.2222",
        SLACK_CLIENT_SECRET="abcdefgh12345678",
        SLACK_SIGNING_SECRET="abcdefgh12345678",
    )
    result = quorum("run", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN and SLACK_CLIENT_ID are both set" in result.stderr
    assert "Traceback" not in result.stderr and "abcdefgh12345678" not in result.stderr


async def test_the_bot_refuses_both_modes_too(bot_factory: Callable[..., Any]) -> None:
    # bot_factory's bot has SLACK_BOT_TOKEN; a client id on top is a contradiction
    with pytest.raises(ConfigError, match="both set"):
        await bot_factory(env={"slack_client_id": "1.2", "slack_client_secret": "s"})


def test_uninstall_data_is_keep_or_delete() -> None:
    assert _settings().quorum_uninstall_data == "keep"
    assert _settings(quorum_uninstall_data="delete").quorum_uninstall_data == "delete"
    with pytest.raises(ValidationError):
        _settings(quorum_uninstall_data="archive")


def test_default_scopes_are_the_manifests() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert list(BOT_SCOPES) == manifest["oauth_config"]["scopes"]["bot"]
    assert scopes(_settings()) == list(BOT_SCOPES)
    assert scopes(_settings(slack_scopes="commands, chat:write,")) == ["commands", "chat:write"]


def test_the_manifest_subscribes_to_uninstalls_and_has_a_redirect_url() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {"app_uninstalled", "tokens_revoked"} <= set(events)
    (url,) = manifest["oauth_config"]["redirect_urls"]
    assert url.endswith("/slack/oauth_redirect")


@pytest.mark.parametrize(
    ("ours", "build"),
    [
        (slack_installations, SQLAlchemyInstallationStore.build_installations_table),
        (slack_bots, SQLAlchemyInstallationStore.build_bots_table),
        (slack_oauth_states, SQLAlchemyOAuthStateStore.build_oauth_states_table),
    ],
)
def test_the_tables_are_slack_sdks_own(ours: Table, build: object) -> None:
    theirs: Table = build(MetaData(), ours.name)  # type: ignore[operator]
    shape = lambda t: [  # noqa: E731
        (c.name, type(c.type).__name__, getattr(c.type, "length", None), c.nullable, c.primary_key)
        for c in t.columns
    ]
    assert shape(ours) == shape(theirs)
    assert {i.name for i in ours.indexes} == {i.name for i in theirs.indexes}
