"""One typed Settings object, read from the environment (and `.env`) once at start."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_SLACK_AUTHORIZE_URL = "https://slack.com/oauth/v2/authorize"


class Settings(BaseSettings):
    """Every environment variable Quorum reads. The README's reference table is checked
    against this class by a test, so keep the descriptions honest."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    slack_bot_token: SecretStr | None = Field(
        default=None, description="Bot token (xoxb-...) from the Slack app's OAuth page."
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, description="Signing secret that verifies requests come from Slack."
    )
    slack_app_token: SecretStr | None = Field(
        default=None,
        description="App-level token (xapp-...); when set the bot connects with Socket Mode.",
    )
    slack_api_url: str = Field(
        default=DEFAULT_SLACK_API_URL,
        description="Slack Web API base URL (GovSlack, or a fake server in tests).",
    )
    slack_client_id: str | None = Field(
        default=None,
        description="OAuth client id: set it (with SLACK_CLIENT_SECRET, instead of "
        "SLACK_BOT_TOKEN) to let any workspace install Quorum from /slack/install.",
    )
    slack_client_secret: SecretStr | None = Field(
        default=None, description="OAuth client secret (Basic Information → App Credentials)."
    )
    slack_scopes: str | None = Field(
        default=None,
        description="Comma-separated bot scopes asked for at install; default: the ones "
        "bot/manifest.yaml declares.",
    )
    slack_redirect_uri: str | None = Field(
        default=None,
        description="The public URL of /slack/oauth_redirect as listed in the app's Redirect "
        "URLs; unset: the one Slack has on file.",
    )
    slack_authorize_url: str = Field(
        default=DEFAULT_SLACK_AUTHORIZE_URL,
        description="Where the install link sends people to approve Quorum (GovSlack, tests).",
    )
    quorum_uninstall_data: Literal["keep", "delete"] = Field(
        default="keep",
        description="When a workspace uninstalls Quorum: keep its runs, signals and cases "
        "(`keep`) or delete them (`delete`); its tokens are always deleted.",
    )
    database_url: str = Field(
        default="sqlite:///quorum.db",
        description="SQLAlchemy URL; a SQLite file by default, postgresql+psycopg://... for teams.",
    )
    quorum_config: Path = Field(
        default=Path("quorum.yaml"), description="Path to the panel/judge/schedule file."
    )
    port: int = Field(default=3000, description="HTTP port for Slack's requests and /healthz.")
    quorum_embedding_model: str | None = Field(
        default=None,
        description="sentence-transformers model name or path; default: the bundled all-MiniLM-L6-v2.",
    )
    quorum_calibrator: Path | None = Field(
        default=None,
        description="Calibrator JSON written by `quorum calibrate`; default: the one shipped.",
    )
    quorum_spool_path: Path | None = Field(
        default=None,
        description="File that keeps writes made while the database is unreachable; "
        "default: next to the SQLite file, or ./quorum-spool.jsonl.",
    )
    quorum_scheduler: bool = Field(
        default=True, description="Run the benchmark/digest scheduler inside the bot process."
    )
    quorum_task_queue: str | None = Field(
        default=None,
        description="PostgreSQL URL of the task queue that `quorum worker` processes take "
        "the scheduled benchmark from; unset: the process that schedules it runs it.",
    )
    quorum_log_level: str = Field(default="INFO", description="Logging level.")
    quorum_db_connect_timeout: float = Field(
        default=3.0,
        ge=2.0,
        description="Seconds to wait for a new PostgreSQL connection (libpq's minimum is 2).",
    )
    quorum_db_statement_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds after which PostgreSQL cancels one statement of the bot's.",
    )
    quorum_db_write_timeout: float = Field(
        default=3.0,
        gt=0,
        description="Seconds a Slack request waits on the database before its write is "
        "spooled and the answer goes out anyway.",
    )

    @property
    def oauth(self) -> bool:
        """True when Quorum installs into workspaces over OAuth (SLACK_CLIENT_ID set)."""
        return self.slack_client_id is not None

    @field_validator(
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "slack_client_id",
        "slack_client_secret",
        "slack_scopes",
        "slack_redirect_uri",
        "quorum_embedding_model",
        "quorum_calibrator",
        "quorum_spool_path",
        "quorum_task_queue",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        """`SLACK_APP_TOKEN=` in .env means "not set", not an empty token."""
        return None if isinstance(value, str) and not value.strip() else value
