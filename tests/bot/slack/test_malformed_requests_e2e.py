"""Malformed requests get 4xx, never 500 (issue 10, item 6), through the bot's HTTP
endpoint: 401 for every bad signature, 400 for a well-signed body Slack would never
send, no traceback in the log; buttons and modals pointing at a run that does not exist
get a polite ephemeral note instead of a foreign-key or overflow error."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

import pytest

from storage.tables.panel_runs import CorrectionRow, SignalRow, VoteRow
from tests.bot.conftest import SECRET, Bot
from tests.fakes import slack_requests as sr

JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"

MALFORMED: list[tuple[str, bytes, str]] = [
    ("json-array", b'[{"type": "event_callback"}]', JSON_TYPE),
    ("truncated-json", b'{"type": "event_callback", "event": {"type": "app_men', JSON_TYPE),
    ("null", b"null", JSON_TYPE),
    ("json-string", b'"hello"', JSON_TYPE),
    ("json-number", b"42", JSON_TYPE),
    ("non-utf8", b"\xff\xfe\xfa{\x00bad", JSON_TYPE),
    ("form-sent-as-json", b"token=x&team_id=T0&command=%2Fcompare&text=hi", JSON_TYPE),
    ("payload-garbage", b"payload=%7B%7B%7B", FORM_TYPE),
    ("payload-array", b"payload=%5B1%2C2%5D", FORM_TYPE),
    ("payload-null", b"payload=null", FORM_TYPE),
    ("payload-without-type", b"payload=%7B%22a%22%3A1%7D", FORM_TYPE),
    ("non-utf8-form", b"payload=\xff\xfe", FORM_TYPE),
    ("empty", b"", JSON_TYPE),
]


def _sign(body: bytes, secret: str, timestamp: str | None = None) -> dict[str, str]:
    """Slack's signature over raw bytes (the body may not even be UTF-8)."""
    ts = timestamp or str(int(time.time()))
    base = b"v0:" + ts.encode() + b":" + body
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest(),
    }


async def _post(bot: Bot, body: bytes, headers: dict[str, str]) -> int:
    async with bot.http.post(bot.server.url, data=body, headers=headers) as resp:
        await resp.read()
        return resp.status


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("body", "ctype"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
async def test_a_malformed_body_gets_401_unsigned_and_400_signed_never_500(
    bot: Bot, caplog: pytest.LogCaptureFixture, body: bytes, ctype: str
) -> None:
    content = {"Content-Type": ctype}
    with caplog.at_level(logging.DEBUG):
        unsigned = await _post(bot, body, content)
        forged = await _post(bot, body, {**content, **_sign(body, "not-the-secret")})
        bad_timestamp = await _post(bot, body, {**content, **_sign(body, SECRET, "abc")})
        signed = await _post(bot, body, {**content, **_sign(body, SECRET)})
        await bot.settle()
    assert (unsigned, forged, bad_timestamp, signed) == (401, 401, 401, 400)
    assert _tracebacks(caplog) == []
    assert bot.slack.calls == [] and bot.models.calls() == 0


@pytest.mark.parametrize("timestamp", ["abc", "", "1e9", "١٢٣", "-5", " "])
async def test_a_bad_timestamp_header_on_a_real_command_is_401(
    bot: Bot, caplog: pytest.LogCaptureFixture, timestamp: str
) -> None:
    request = sr.slash_command(SECRET, "What is 2+2?").with_headers(
        X_Slack_Request_Timestamp=timestamp
    )
    with caplog.at_level(logging.DEBUG):
        reply = await bot.send(request)
        await bot.settle()
    assert reply.status == 401
    assert _tracebacks(caplog) == []
    assert bot.models.calls() == 0


STALE_RUN_IDS = ["987654", "999999999999", "-1", "0", "1e3"]


@pytest.mark.parametrize("run_id", STALE_RUN_IDS)
@pytest.mark.parametrize("action_id", ["quorum_up", "quorum_down", "quorum_flag", "quorum_correct"])
async def test_a_button_on_a_run_that_does_not_exist_gets_a_polite_note(
    bot: Bot, caplog: pytest.LogCaptureFixture, run_id: str, action_id: str
) -> None:
    with caplog.at_level(logging.INFO):
        reply = await bot.action(action_id=action_id, value=run_id, trigger_id="T1")
        await bot.settle()
    assert reply.status == 200
    assert _tracebacks(caplog) == []
    (note,) = bot.ephemerals()
    assert note["text"] == "Sorry, I can't find that question anymore."
    assert bot.slack.calls_to("views.open") == []
    assert bot.rows(SignalRow) == []


@pytest.mark.parametrize("run_id", [987654, 999999999999])
async def test_a_best_answer_vote_on_a_run_that_does_not_exist_gets_a_polite_note(
    bot: Bot, caplog: pytest.LogCaptureFixture, run_id: int
) -> None:
    value = json.dumps({"run": run_id, "member": "alpha"})
    with caplog.at_level(logging.INFO):
        reply = await bot.action(action_id="quorum_best_answer", value=value)
        await bot.settle()
    assert reply.status == 200
    assert _tracebacks(caplog) == []
    (note,) = bot.ephemerals()
    assert "can't find that answer" in note["text"]
    assert bot.rows(VoteRow) == []


@pytest.mark.parametrize("run_id", [987654, 999999999999, "abc"])
async def test_a_correction_modal_for_a_run_that_does_not_exist_gets_a_polite_note(
    bot: Bot, caplog: pytest.LogCaptureFixture, run_id: object
) -> None:
    values = {
        "correct_answer": {"value": {"type": "plain_text_input", "value": "Paris"}},
        "failure_mode": {
            "value": {"type": "static_select", "selected_option": {"value": "wrong_fact"}}
        },
        "severity": {"value": {"type": "static_select", "selected_option": {"value": "high"}}},
    }
    meta = json.dumps({"run_id": run_id, "channel": bot.channel, "ts": "1700000000.000001"})
    with caplog.at_level(logging.INFO):
        reply = await bot.submit(
            callback_id="quorum_correction", private_metadata=meta, values=values
        )
        await bot.settle()
    assert reply.status == 200
    assert _tracebacks(caplog) == []
    (note,) = bot.ephemerals()
    assert note["text"] == "Sorry, I can't find that question anymore."
    assert bot.rows(CorrectionRow) == []
