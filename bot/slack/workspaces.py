"""Which Slack workspace something belongs to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Workspace:
    """A workspace Quorum serves. ``id`` is the Slack team id (``T…``); for an
    Enterprise Grid org-wide install, which has no team, the enterprise id (``E…``)."""

    id: str
    enterprise_id: str | None = None
