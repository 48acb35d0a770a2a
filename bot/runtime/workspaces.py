"""What a workspace is to Quorum, and where the workspaces it serves come from.

Declared here, at the bottom of ``bot``, so :class:`bot.runtime.services.Services` can
carry the directory; :mod:`bot.slack.workspaces` re-exports both names and holds the
Slack side (which workspace a request comes from, the single-token directory).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient


@dataclass(frozen=True)
class Workspace:
    """One Slack workspace (team id), or an Enterprise Grid org for a request made at the
    org level (``id`` is then the enterprise id). Every stored row that belongs to a
    workspace carries ``id`` as its ``workspace_id``."""

    id: str
    enterprise_id: str | None = None


class WorkspaceDirectory(Protocol):
    """The workspaces Quorum is installed in, and the client that speaks for each."""

    async def installed(self) -> list[Workspace]: ...

    async def client_for(self, workspace: Workspace) -> AsyncWebClient | None: ...
