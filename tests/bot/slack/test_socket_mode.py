"""Socket Mode smoke test: a real websocket to the fake Slack, envelopes in, acks out."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from pydantic import SecretStr

from bot.runtime.services import Services
from bot.server import build_socket_mode_handler
from tests.bot.conftest import Bot, block_text
from tests.fakes import slack_requests as sr


async def _wait(predicate: Any, wait_s: float = 5.0) -> None:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


def _command_payload(text: str) -> dict[str, Any]:
    return {
        "token": "x",
        "team_id": "T0QUORUM",
        "channel_id": "C0GENERAL",
        "user_id": "U0ALICE",
        "command": "/compare",
        "text": text,
        "api_app_id": "A0QUORUM",
        "response_url": "",
        "trigger_id": sr.uid("13345224609.738474920."),
    }


def test_socket_mode_needs_an_app_token(bot: Bot) -> None:
    services: Services = bot.services
    assert services.settings.slack_app_token is None
    with pytest.raises(ValueError, match="SLACK_APP_TOKEN"):
        build_socket_mode_handler(services)


async def test_socket_mode_handles_a_slash_command(bot: Bot) -> None:
    for name in ("alpha", "beta", "gamma"):
        bot.models.script(name, "Paris.")
    bot.services.settings.slack_app_token = SecretStr("xapp-1-test")
    handler = build_socket_mode_handler(bot.services)
    assert handler.app_token == "xapp-1-test"
    await handler.connect_async()  # type: ignore[no-untyped-call]
    try:
        await _wait(lambda: bot.slack.socket_clients() == 1)
        opened = bot.slack.calls_to("apps.connections.open")
        assert opened and opened[0].token == "xapp-1-test"

        bot.slack.send_socket_envelope(
            {
                "envelope_id": "env-help",
                "type": "slash_commands",
                "payload": _command_payload("help"),
                "accepts_response_payload": True,
            }
        )
        await _wait(lambda: any(a.get("envelope_id") == "env-help" for a in bot.slack.socket_acks))
        ack = next(a for a in bot.slack.socket_acks if a["envelope_id"] == "env-help")
        assert "/compare <question>" in block_text(ack["payload"]["blocks"])

        bot.slack.send_socket_envelope(
            {
                "envelope_id": "env-q",
                "type": "slash_commands",
                "payload": _command_payload("Capital of France?"),
                "accepts_response_payload": True,
            }
        )
        await _wait(lambda: any(a.get("envelope_id") == "env-q" for a in bot.slack.socket_acks))
        await bot.settle()
        (result,) = bot.results()
        assert "Paris" in block_text(result.blocks)
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]


async def test_socket_mode_acknowledges_a_malformed_event_without_a_traceback(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    """The probe's ``app_mention`` without ``channel``, over Socket Mode this time."""
    bot.services.settings.slack_app_token = SecretStr("xapp-1-test")
    handler = build_socket_mode_handler(bot.services)
    event = sr.app_mention("<@UQUORUMBOT> Capital of France?")
    del event["channel"]
    await handler.connect_async()  # type: ignore[no-untyped-call]
    try:
        await _wait(lambda: bot.slack.socket_clients() == 1)
        with caplog.at_level(logging.INFO):
            bot.slack.send_socket_envelope(
                {"envelope_id": "env-bad", "type": "events_api", "payload": sr.envelope(event)}
            )
            await _wait(
                lambda: any(a.get("envelope_id") == "env-bad" for a in bot.slack.socket_acks)
            )
            await bot.settle()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
    assert any("event.channel missing" in r.getMessage() for r in caplog.records)
    assert bot.models.calls() == 0
    assert [c.method for c in bot.slack.calls if c.method.startswith("chat.")] == []
