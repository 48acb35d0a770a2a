"""The workspaces Quorum serves and what each one chose in Slack (revision 0010).

A row exists once a workspace is known (claimed at start in token mode, or set from
Slack); ``digest_channel`` / ``review_channel`` None mean "quorum.yaml's default".
The id is the Slack team id, or the Enterprise Grid org id for an org-level request.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from storage.tables.base import Base


class WorkspaceRow(Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    enterprise_id: Mapped[str | None] = mapped_column(String(64))
    digest_channel: Mapped[str | None] = mapped_column(String(64))
    review_channel: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
