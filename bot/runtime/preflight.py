"""What must be set before the bot can start, said exactly (used by `run` and `doctor`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from bot.runtime.config import QuorumConfig
from bot.runtime.settings import Settings


@dataclass(frozen=True)
class Missing:
    variable: str
    why: str
    how: str


SLACK_HOW = "the Slack app"

BOTH_MODES = (
    "SLACK_BOT_TOKEN and SLACK_CLIENT_ID are both set. Choose one: SLACK_BOT_TOKEN for "
    "one workspace, or SLACK_CLIENT_ID with SLACK_CLIENT_SECRET to let workspaces install "
    "Quorum from /slack/install (then unset SLACK_BOT_TOKEN)."
)


def slack_conflict(settings: Settings) -> str | None:
    """Why the Slack settings contradict each other, or None."""
    if settings.oauth and settings.slack_bot_token is not None:
        return BOTH_MODES
    return None


def missing_slack(settings: Settings, *, socket_mode: bool) -> list[Missing]:
    """What is missing for the bot to start: single-workspace mode needs its bot token;
    OAuth installs (SLACK_CLIENT_ID) need the client secret instead."""
    missing: list[Missing] = []
    if settings.oauth:
        if settings.slack_client_secret is None:
            missing.append(
                Missing(
                    "SLACK_CLIENT_SECRET",
                    "OAuth client secret (SLACK_CLIENT_ID is set)",
                    SLACK_HOW + ": Basic Information → App Credentials",
                )
            )
    elif settings.slack_bot_token is None:
        missing.append(
            Missing(
                "SLACK_BOT_TOKEN", "the bot's token (xoxb-…)", SLACK_HOW + ": OAuth & Permissions"
            )
        )
    if socket_mode:
        if settings.slack_app_token is None:
            missing.append(
                Missing(
                    "SLACK_APP_TOKEN",
                    "Socket Mode's app-level token (xapp-…, connections:write)",
                    SLACK_HOW + ": Basic Information → App-Level Tokens",
                )
            )
    elif settings.slack_signing_secret is None:
        missing.append(
            Missing(
                "SLACK_SIGNING_SECRET",
                "verifies that requests come from Slack (HTTP mode)",
                SLACK_HOW + ": Basic Information → Signing Secret",
            )
        )
    return missing


def missing_provider_keys(
    config: QuorumConfig, environ: Mapping[str, str] | None = None
) -> list[Missing]:
    env = os.environ if environ is None else environ
    seen: dict[str, list[str]] = {}
    for where, name in config.env_references():
        if not env.get(name):
            seen.setdefault(name, []).append(where.split(".litellm_params")[0])
    return [
        Missing(
            name, f"referenced by {', '.join(places)} in quorum.yaml", "your provider's console"
        )
        for name, places in seen.items()
    ]


def explain(missing: list[Missing]) -> str:
    lines = [
        "Quorum can't start yet. Set these in the environment or in .env (.env.example):",
        "",
    ]
    width = max(len(m.variable) for m in missing) + 2  # lines fit 80 columns (tested)
    for m in missing:
        lines.append(f"  {m.variable:<{width}}{m.why}")
        lines.append(f"  {'':<{width}}from {m.how}")
    if any(m.how.startswith(SLACK_HOW) for m in missing):
        lines += [
            "",
            "No Slack app yet? Create one from bot/manifest.yaml (README: Connect to Slack).",
        ]
    return "\n".join(lines)
