"""`quorum digest --preview/--post` end to end: real SQLite file, fake Slack over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from typer.testing import CliRunner, Result

import bot.cli.digest  # noqa: F401  (registers `quorum digest` and `quorum clock`)
from bot.cli import app
from bot.schedule.cron import iso_week
from storage import job_repo
from storage.db import Database
from tests.bot.digest_seed import DIGEST_CHANNEL, config_data, seed_evals, seed_production
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_requests import TEAM_ID


@pytest.fixture
def env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_slack: FakeSlackAPI
) -> Iterator[Database]:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path}/cli.db"
    config = tmp_path / "quorum.yaml"
    config.write_text(yaml.safe_dump(config_data()), encoding="utf-8")
    for name, value in {
        "DATABASE_URL": url,
        "QUORUM_CONFIG": str(config),
        "SLACK_BOT_TOKEN": "xoxb-cli-test",
        "SLACK_API_URL": fake_slack.url,
        "COLUMNS": "200",
    }.items():
        monkeypatch.setenv(name, value)
    database = Database(url)
    database.upgrade()
    yield database
    database.dispose()


def quorum(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def this_week() -> str:
    return iso_week(datetime.now(UTC), ZoneInfo("Europe/Berlin"))


def seed(db: Database) -> None:
    now = datetime.now(UTC)
    seed_production(db, week_end=now)
    seed_evals(db, benchmark_at=now - timedelta(days=1))


def test_preview_prints_the_digest_and_writes_the_chart(
    env: Database, fake_slack: FakeSlackAPI, tmp_path: Path
) -> None:
    seed(env)
    result = quorum("digest", "--preview", "--chart", str(tmp_path / "chart.png"))
    assert result.exit_code == 0, result.output
    assert "Quorum weekly digest" in result.output
    assert "alpha's eval pass rate went up 50 pts (to 100%)." in result.output
    assert "The benchmark is not predicting production" in result.output
    assert "Models this week" in result.output
    assert "eval 100% (84%–100%) on 20 cases" in result.output
    # decisions first: the first paragraph after the dates says what to do
    assert result.output.index("This week, decide:") < result.output.index("Biggest change:")
    assert "Review 2 proposed eval case(s)" in result.output
    assert "ECE 0.33 over 6 judged answers" in result.output
    assert "Chance alone reaches an ECE of 0." in result.output
    assert "beta: c17" in result.output
    assert "Awaiting review: 2 proposed case(s)" in result.output
    assert "Shadow candidates" in result.output and "candidate" in result.output
    assert f"Chart written to {tmp_path / 'chart.png'}" in result.output
    png = (tmp_path / "chart.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert fake_slack.calls == []  # a preview posts nothing


def test_preview_of_an_empty_database_is_honest(env: Database, tmp_path: Path) -> None:
    result = quorum("digest", "--preview")
    assert result.exit_code == 0, result.output
    assert "A quiet week: no questions and no benchmark results." in result.output
    assert (tmp_path / f"digest-{this_week()}.png").stat().st_size > 0


def test_post_is_exactly_once_unless_forced(env: Database, fake_slack: FakeSlackAPI) -> None:
    seed(env)
    first = quorum("digest", "--post")
    assert first.exit_code == 0, first.output
    assert f"Digest for {this_week()} posted to {DIGEST_CHANNEL}" in first.output
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    assert len(fake_slack.uploads()) == 1

    again = quorum("digest", "--post")
    assert again.exit_code == 0, again.output
    assert f"The digest for {this_week()} was already done" in again.output
    assert "use --force to post again" in again.output
    assert len(fake_slack.calls_to("chat.postMessage")) == 1

    forced = quorum("digest", "--post", "--force")
    assert forced.exit_code == 0, forced.output
    assert len(fake_slack.calls_to("chat.postMessage")) == 2
    run = job_repo.get_period(env, "digest", this_week(), workspace=TEAM_ID)
    assert run is not None and run.attempts == 2


def test_post_failure_exits_1_with_a_reference(env: Database, fake_slack: FakeSlackAPI) -> None:
    fake_slack.fail("chat.postMessage", error="channel_not_found")
    result = quorum("digest", "--post")
    assert result.exit_code == 1
    assert "The digest was not posted" in result.output and "ref Q-" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "Say what to do"),
        (("--preview", "--post"), "Say what to do"),
        (("--preview", "--force"), "--force only applies to --post"),
    ],
)
def test_usage_errors(env: Database, args: tuple[str, ...], message: str) -> None:
    result = quorum("digest", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_clock_with_nothing_scheduled_says_so(env: Database, tmp_path: Path) -> None:
    config = tmp_path / "quorum.yaml"
    config.write_text(yaml.safe_dump(config_data(benchmark=None, digest=None)), encoding="utf-8")
    result = quorum("clock")
    assert result.exit_code == 2
    assert "Nothing to schedule" in result.output


def test_clock_refuses_a_numbered_weekday(env: Database, tmp_path: Path) -> None:
    config = tmp_path / "quorum.yaml"
    config.write_text(yaml.safe_dump(config_data(digest="0 9 * * 1")), encoding="utf-8")
    result = quorum("clock")
    assert result.exit_code == 2
    assert "write the weekday by name" in result.output


def test_preview_needs_no_provider_key(
    env: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The digest calls no model: a key the config refers to may be unset on this machine.
    data = config_data()
    data["panel"][0]["litellm_params"]["api_key"] = "os.environ/QUORUM_TEST_UNSET_KEY"
    data["panel"][1]["litellm_params"]["model"] = "os.environ/QUORUM_TEST_UNSET_MODEL"
    (tmp_path / "quorum.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.delenv("QUORUM_TEST_UNSET_KEY", raising=False)
    monkeypatch.delenv("QUORUM_TEST_UNSET_MODEL", raising=False)
    seed(env)

    result = quorum("digest", "--preview", "--chart", str(tmp_path / "chart.png"))

    assert result.exit_code == 0, result.output
    assert "QUORUM_TEST_UNSET_KEY" not in result.output
    assert "Quorum weekly digest" in result.output
