"""`quorum run` started as a real process, exactly as the Procfile and `make run` start
it: settings from the environment, the database migrated on first start, the embedder
loading at boot, the scheduler in-process, Slack's signed requests over HTTP."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import SignedRequest, slash_command
from tests.net import free_port

pytestmark = pytest.mark.slow

SECRET = "test-signing-secret"


def _post(url: str, request: SignedRequest) -> tuple[int, str]:
    req = urllib.request.Request(url, data=request.body.encode(), headers=request.headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def bot_process(
    tmp_path: Path, fake_openai: FakeOpenAIServer, fake_slack: FakeSlackAPI
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    panel = [
        {
            "model_name": name,
            "litellm_params": {
                "model": f"openai/{name}",
                "api_base": fake_openai.base_url,
                "api_key": "os.environ/FAKE_PROVIDER_KEY",
            },
            "timeout": 10,
        }
        for name in ("alpha", "beta")
    ]
    config = tmp_path / "quorum.yaml"
    config.write_text(yaml.safe_dump({"panel": panel}))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "QUORUM_"))}
    env.update(
        HF_HUB_OFFLINE="1",
        LITELLM_LOCAL_MODEL_COST_MAP="True",
        QUORUM_CONFIG=str(config),
        DATABASE_URL=f"sqlite:///{tmp_path / 'quorum.db'}",
        SLACK_BOT_TOKEN="xoxb-test-token",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake_slack.url,
        PORT=str(port),
        FAKE_PROVIDER_KEY="sk-test",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_healthy(
    proc: subprocess.Popen[str], port: int, timeout: float = 120.0
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    last: dict[str, object] = {}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            output = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"quorum run exited with {proc.returncode}:\n{output}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                last = json.loads(resp.read())
                if resp.status == 200:
                    return last
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    pytest.fail(f"the bot never became healthy: {last}")


def test_quorum_run_serves_a_compare_end_to_end(
    tmp_path: Path,
    bot_process: tuple[subprocess.Popen[str], int],
    fake_openai: FakeOpenAIServer,
    fake_slack: FakeSlackAPI,
) -> None:
    proc, port = bot_process
    fake_openai.script("alpha", reply="Use exponential backoff with jitter.")
    fake_openai.script("beta", reply="Back off exponentially, with jitter.")

    # Healthy as soon as the database answers, possibly while the model still loads; the
    # /compare sent at once waits for the model instead of failing.
    health = _wait_healthy(proc, port)
    assert health["database"] == "ok" and health["embedder"] in ("loading", "loaded")
    assert health["models"] == ["alpha", "beta"]

    status, _ = _post(
        f"http://127.0.0.1:{port}/slack/events",
        slash_command(SECRET, "How should a client retry on HTTP 429?"),
    )
    assert status == 200

    def finished(api: FakeSlackAPI) -> bool:
        # the result message says its verdict: "2 of 2 models agree · 80% likely right"
        return any("likely right" in m.text for m in api.messages("C0GENERAL"))

    assert fake_slack.wait_for(finished, timeout=60), fake_slack.methods()
    (result,) = [m for m in fake_slack.messages("C0GENERAL") if m.thread_ts is None]
    assert "agree" in json.dumps(result.blocks)
    assert fake_openai.calls() == 2

    # A forged request is refused and changes nothing.
    forged = slash_command("not-the-secret", "Anything else?")
    assert _post(f"http://127.0.0.1:{port}/slack/events", forged)[0] == 401

    # The result is posted first and stored right after: give the write a moment.
    db = sqlite3.connect(tmp_path / "quorum.db")
    deadline = time.monotonic() + 20
    stored = db.execute("select count(*), max(origin) from panel_runs").fetchone()
    while stored != (1, "slack") and time.monotonic() < deadline:
        time.sleep(0.1)
        stored = db.execute("select count(*), max(origin) from panel_runs").fetchone()
    assert stored == (1, "slack")
    assert fake_openai.calls() == 2

    proc.send_signal(signal.SIGTERM)  # how platforms stop a web process
    output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 130, output
    assert "Traceback" not in output, output


def test_sigterm_while_a_compare_is_in_flight_finishes_it_and_exits_cleanly(
    tmp_path: Path,
    bot_process: tuple[subprocess.Popen[str], int],
    fake_openai: FakeOpenAIServer,
    fake_slack: FakeSlackAPI,
) -> None:
    """A deploy stops the web process while someone waits for an answer: the answer is
    still posted and stored, and the process exits like Ctrl-C, without a traceback (a
    SIGTERM handler that raised KeyboardInterrupt could land inside the compare task)."""
    proc, port = bot_process
    fake_openai.script("alpha", reply="Use exponential backoff with jitter.", latency=2.0)
    fake_openai.script("beta", reply="Back off exponentially, with jitter.", latency=2.0)
    _wait_healthy(proc, port)
    status, _ = _post(
        f"http://127.0.0.1:{port}/slack/events",
        slash_command(SECRET, "How should a client retry on HTTP 429?"),
    )
    assert status == 200
    assert fake_slack.wait_for(lambda api: fake_openai.calls() == 2, timeout=60)

    proc.send_signal(signal.SIGTERM)  # the models are still thinking
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "Traceback" not in output, output
    assert any("likely right" in m.text for m in fake_slack.messages("C0GENERAL")), output
    db = sqlite3.connect(tmp_path / "quorum.db")
    assert db.execute("select count(*) from panel_runs").fetchone() == (1,)
