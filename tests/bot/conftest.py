"""End-to-end harness for the Slack bot: everything over real HTTP.

The bot's own aiohttp server (port 0) receives requests signed exactly as Slack signs
them; it talks to the fake Slack Web API and, through the production model client
(:class:`bot.runtime.adapters.ProviderClient`: straight over HTTP for these members), to the
fake OpenAI-compatible server; answers are embedded by the fast fake embedder and
stored in a freshly migrated SQLite file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from bot.runtime.adapters import ProviderClient
from bot.runtime.config import parse_config
from bot.runtime.services import Services
from bot.runtime.settings import Settings
from bot.server import RunningServer, start_http
from bot.slack.background_tasks import pending_tasks
from evals.consensus.calibrator import Calibrator, LinearModel, default_calibrator
from evals.errors import CalibrationError
from evals.models.provider_calls import RetryPolicy
from storage.db import Database
from tests.fakes import slack_requests as sr
from tests.fakes.embedder import FakeEmbedder
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.slack_api import FakeSlackAPI

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PANEL = ("alpha", "beta", "gamma")


class FlakyDatabase(Database):
    """A real database that can be made unreachable (as when the server restarts)."""

    down = False
    #: Seconds every session waits first (a database slow under load).
    lag_s = 0.0

    def _check(self) -> None:
        if self.lag_s:
            time.sleep(self.lag_s)
        if self.down:
            exc = OperationalError("SELECT 1", {}, Exception("connection refused"))
            raise self.storage_error("a database transaction", exc) from exc

    @contextmanager
    def session(self):  # type: ignore[no-untyped-def]
        self._check()
        with super().session() as session:
            yield session

    def ping(self) -> bool:
        return not self.down and super().ping()


def panel_config(api_base: str, names: tuple[str, ...] = PANEL, **sections: Any) -> dict[str, Any]:
    return {
        "panel": [
            {
                "model_name": n,
                "litellm_params": {
                    "model": f"openai/{n}",
                    "api_base": api_base,
                    "api_key": "sk-test",
                },
                "timeout": 10,
                "max_retries": 0,
            }
            for n in names
        ],
        **sections,
    }


def _calibrator() -> Calibrator:
    """The shipped calibrator; a constant one (0.82) while its data file is not there."""
    try:
        return default_calibrator()
    except CalibrationError:
        flat = LinearModel((), (), (), (), 1.5)
        return Calibrator(flat, flat, {"note": "test stand-in"})


@dataclass
class Bot:
    services: Services
    slack: FakeSlackAPI
    models: FakeOpenAIServer
    server: RunningServer
    http: aiohttp.ClientSession
    db: FlakyDatabase
    channel: str = "C0GENERAL"

    async def send(self, request: sr.SignedRequest) -> sr.SlackReply:
        return await sr.send(self.http, self.server.url, request)

    async def command(self, text: str, **kw: Any) -> sr.SlackReply:
        kw.setdefault("response_url", self.slack.response_url("cmd"))
        kw.setdefault("channel_id", self.channel)
        return await self.send(sr.slash_command(SECRET, text, **kw))

    async def event(self, event: dict[str, Any], **kw: Any) -> sr.SlackReply:
        return await self.send(sr.event_envelope(SECRET, event, **kw))

    async def action(self, **kw: Any) -> sr.SlackReply:
        kw.setdefault("channel_id", self.channel)
        kw.setdefault("response_url", self.slack.response_url("action"))
        return await self.send(sr.block_action(SECRET, **kw))

    async def submit(self, **kw: Any) -> sr.SlackReply:
        return await self.send(sr.view_submission(SECRET, **kw))

    async def settle(self, wait_s: float = 10.0) -> None:
        """Wait until the bot has finished everything it started (tasks and Slack calls)."""
        deadline = time.monotonic() + wait_s
        quiet_since: float | None = None
        last = -1
        while time.monotonic() < deadline:
            calls = len(self.slack.calls)
            busy = pending_tasks() > 0 or bolt_listeners_running() > 0 or calls != last
            last = calls
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 0.15:
                return
            await asyncio.sleep(0.02)
        raise AssertionError("the bot did not settle in time")

    # -- what Slack shows --------------------------------------------------------------

    def results(self) -> list[Any]:
        """Top-level messages the bot posted in the channel (not thread replies)."""
        return [m for m in self.slack.messages(self.channel) if m.thread_ts is None]

    def ephemerals(self) -> list[dict[str, Any]]:
        return [c.body for c in self.slack.calls_to("chat.postEphemeral")]

    def rows(self, table: Any) -> list[Any]:
        with Database.session(self.db) as session:
            return list(session.scalars(select(table)))


def block_text(blocks: list[dict[str, Any]]) -> str:
    """Every text a person would read in ``blocks`` (sections, context, buttons)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and "text" in node:
                out.append(str(node["text"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(out)


def action_ids(blocks: list[dict[str, Any]]) -> list[str]:
    """The action ids of every button and feedback button, in order."""
    return [
        el["action_id"]
        for b in blocks
        if b.get("type") in ("actions", "context_actions")
        for el in b.get("elements", [])
    ]


def feedback_values(blocks: list[dict[str, Any]]) -> tuple[str, str]:
    """The values Slack sends back for the result's native 👍 and 👎."""
    (element,) = [el for b in blocks if b.get("type") == "context_actions" for el in b["elements"]]
    assert element["type"] == "feedback_buttons"
    return element["positive_button"]["value"], element["negative_button"]["value"]


@pytest.fixture
async def bot_factory(
    tmp_path: Path, fake_slack: FakeSlackAPI, fake_openai: FakeOpenAIServer
) -> AsyncIterator[Callable[..., Any]]:
    """Build and start a bot: ``bot = await bot_factory(limits={...})``."""
    started: list[Bot] = []

    async def make(
        names: tuple[str, ...] = PANEL,
        shadow: tuple[str, ...] = (),
        *,
        database_url: str | None = None,
        env: dict[str, Any] | None = None,
        **sections: Any,
    ) -> Bot:
        """``database_url``: another database than the test's SQLite file; ``env``: more
        settings (as Settings field names)."""
        url = database_url or f"sqlite:///{tmp_path}/quorum.db"
        settings = Settings(
            _env_file=None,
            slack_signing_secret=SECRET,
            slack_api_url=fake_slack.url,
            database_url=url,
            quorum_spool_path=tmp_path / "quorum-spool.jsonl",
            # A loaded 2-core CI machine can take seconds for a SQLite write; only the
            # tests about a hung database want the bot to give up on it quickly.
            # (``env={"slack_bot_token": None, ...}``: an OAuth bot, no token of its own)
            **{
                "slack_bot_token": "xoxb-test-token",
                "quorum_db_write_timeout": 30.0,
                **(env or {}),
            },
        )
        db = FlakyDatabase(
            url,
            connect_timeout_s=settings.quorum_db_connect_timeout,
            statement_timeout_s=settings.quorum_db_statement_timeout,
        )
        db.upgrade()
        data = panel_config(fake_openai.base_url, names, **sections)
        if shadow:
            data["shadow"] = panel_config(fake_openai.base_url, shadow)["panel"]
        config = parse_config(data)
        services = Services(
            settings=settings,
            config=config,
            members=config.panel_members(env={}),
            shadow=config.shadow_members(env={}),
            client=ProviderClient(retry=RetryPolicy(backoff_base_s=0.01, max_backoff_s=0.05)),
            embedder=FakeEmbedder(),
            calibrator=_calibrator(),
            db=db,
        )
        server = await start_http(services, 0, host="127.0.0.1")
        bot = Bot(services, fake_slack, fake_openai, server, aiohttp.ClientSession(), db)
        started.append(bot)
        return bot

    try:
        yield make
    finally:
        for b in started:
            await b.http.close()
            await b.server.stop()
            b.db.dispose()


@pytest.fixture
async def bot(bot_factory: Callable[..., Any]) -> Bot:
    made: Bot = await bot_factory()
    return made


async def ask(bot: Bot, question: str = "What is the capital of France?") -> Any:
    """Run one /compare with agreeing models; return the result message."""
    bot.models.script("alpha", "The capital of France is **Paris**.", latency=0.02)
    bot.models.script("beta", "Paris is the capital of France.", latency=0.02)
    bot.models.script("gamma", "Lyon is the capital of France.", latency=0.02)
    await bot.command(question)
    await bot.settle()
    results = bot.results()
    assert results, "no result was posted"
    return results[-1]


def bolt_listeners_running() -> int:
    """Listeners Bolt runs after acknowledging (``process_before_response=False``): in
    tasks of its own, which :func:`pending_tasks` does not count. Without them a listener
    slow to start on a loaded machine (App Home reading the database) made its first
    Slack call after ``settle`` had returned."""
    return sum(
        1
        for task in asyncio.all_tasks()
        if not task.done()
        and "run_ack_function_asynchronously" in getattr(task.get_coro(), "__qualname__", "")
    )
