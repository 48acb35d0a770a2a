"""Interactive demand: how many model calls people caused, per member and second.

The process that serves people (the web process) adds its count once a second; the
background processes (eval runs, `quorum worker`) read the last few seconds and leave
that much of each member's rate to people. Rows older than a few minutes are deleted
by the writer.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.tables.base import Base


class InteractiveDemandRow(Base):
    __tablename__ = "interactive_demand"

    #: The second the calls were made in (UTC, truncated); first in the key, so that
    #: reading "since" and deleting "before" are range scans.
    second: Mapped[datetime] = mapped_column(primary_key=True)
    member: Mapped[str] = mapped_column(String(200), primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)
