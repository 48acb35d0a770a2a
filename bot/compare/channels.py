"""Where a workspace's digest and review notices go: what it chose in Slack
(``/compare digest here``, ``/compare review here``), else quorum.yaml's channel."""

from __future__ import annotations

from bot.runtime.services import Services
from storage.workspace_repo import workspace_settings


def channels(services: Services, workspace: str) -> tuple[str | None, str | None]:
    """(digest channel, review channel) of ``workspace`` (blocking: call in a thread)."""
    with services.db.session() as session:
        chosen = workspace_settings(session, workspace)
    slack = services.config.slack
    return (
        chosen.digest_channel or slack.digest_channel,
        chosen.review_channel or slack.review_channel,
    )
