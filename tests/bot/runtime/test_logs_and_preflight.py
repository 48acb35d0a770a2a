"""Secrets never reach a log line; missing credentials are named exactly."""

import logging
import sys

import pytest
from pydantic import SecretStr

from bot.runtime.config import parse_config
from bot.runtime.logs import SecretFilter
from bot.runtime.preflight import explain, missing_provider_keys, missing_slack
from bot.runtime.settings import Settings
from tests.evals.cases.redaction_corpus import LEAKS, ORDINARY, Leak


def _record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, None)


@pytest.mark.parametrize(
    "secret",
    [
        "xoxb-1234567890-abcdefghijkl",
        "xoxe-1-My0xLTEyMzQ1Ni1hYmNkZWY",  # a rotating app's refresh token
        "xapp-1-A0000-123-abcdef",
        "sk-proj-abcdefghijklmnop1234",
        "AKIAABCDEFGHIJKLMNOP",
        "Bearer abcdefghijklmnopqrstuv",
    ],
)
def test_token_shaped_strings_are_scrubbed_from_messages_and_args(secret: str) -> None:
    record = _record("calling provider with %s", secret)
    SecretFilter().filter(record)
    assert secret not in record.getMessage()
    assert "[redacted]" in record.getMessage()


def test_known_secret_values_are_scrubbed_even_without_a_token_shape() -> None:
    record = _record("url=postgresql://u:hunter2-very-secret@db/q")
    SecretFilter(extra_secrets=["hunter2-very-secret"]).filter(record)
    assert "hunter2" not in record.getMessage()


def test_secrets_in_tracebacks_are_scrubbed() -> None:
    try:
        raise RuntimeError("bad key sk-abcdefghijklmnopqrstu")
    except RuntimeError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    SecretFilter().filter(record)
    assert record.exc_text and "sk-abcdefghijklmnopqrstu" not in record.exc_text


@pytest.mark.parametrize("leak", LEAKS, ids=lambda leak: f"{leak.kind}:{leak.text[:30]}")
def test_no_corpus_secret_reaches_a_log_line(leak: Leak) -> None:
    """The log filter uses the same detectors as case redaction (hf_, AIza, glpat- ...)."""
    record = _record("request failed: %s (%r)", leak.text, {"detail": leak.text})
    SecretFilter().filter(record)
    assert leak.secret not in record.getMessage()


def test_ordinary_log_lines_are_left_alone() -> None:
    for text in ORDINARY:
        record = _record("%s", text)
        SecretFilter().filter(record)
        assert record.getMessage() == text


def _settings(**values: object) -> Settings:
    return Settings.model_validate(values)


def test_http_mode_needs_bot_token_and_signing_secret() -> None:
    names = [m.variable for m in missing_slack(_settings(), socket_mode=False)]
    assert names == ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"]


def test_socket_mode_needs_bot_and_app_tokens_but_no_signing_secret() -> None:
    settings = _settings(slack_bot_token=SecretStr("xoxb-1"))
    assert [m.variable for m in missing_slack(settings, socket_mode=True)] == ["SLACK_APP_TOKEN"]


@pytest.mark.parametrize(
    ("given", "socket_mode"),
    [
        ({}, False),
        ({}, True),
        ({"slack_client_id": "1.2"}, False),
        ({"slack_client_id": "1.2"}, True),
    ],
    ids=["http", "socket", "oauth-http", "oauth-socket"],
)
def test_what_to_set_reads_at_80_columns(given: dict[str, str], socket_mode: bool) -> None:
    missing = missing_slack(_settings(**given), socket_mode=socket_mode)
    assert missing
    text = explain(missing)
    assert [line for line in text.splitlines() if len(line) > 80] == []


def test_missing_provider_keys_are_named_once_with_every_place_that_uses_them() -> None:
    entry = {"litellm_params": {"model": "openai/a", "api_key": "os.environ/OPENAI_API_KEY"}}
    config = parse_config({"panel": [{"model_name": "a", **entry}, {"model_name": "b", **entry}]})
    (missing,) = missing_provider_keys(config, environ={})
    assert missing.variable == "OPENAI_API_KEY"
    assert "panel[a]" in missing.why and "panel[b]" in missing.why
    assert missing_provider_keys(config, environ={"OPENAI_API_KEY": "sk-x"}) == []
    text = explain([missing])
    assert "OPENAI_API_KEY" in text and ".env" in text


def test_blank_values_from_dotenv_count_as_not_set() -> None:
    settings = _settings(slack_bot_token="", slack_signing_secret="  ", slack_app_token="")
    assert settings.slack_app_token is None
    names = [m.variable for m in missing_slack(settings, socket_mode=False)]
    assert names == ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"]
