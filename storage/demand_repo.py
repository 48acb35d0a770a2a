"""Interactive demand shared between processes: written by the process serving people,
read by the ones running benchmarks (``bot.runtime.shared_budget`` wires both).

One row per member and second; writers add to it (``INSERT ... ON CONFLICT DO UPDATE``),
so several web processes may write the same second. Both functions are one short
transaction, meant to run in a thread off the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from storage.db import Database
from storage.tables.base import insert_for
from storage.tables.demand import InteractiveDemandRow

#: How long rows are kept: far longer than anyone reads back.
KEEP = timedelta(minutes=5)


def _second(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("naive datetime; use datetime.now(UTC)")
    return at.replace(microsecond=0)


def record_interactive(db: Database, calls: Mapping[str, int], *, at: datetime) -> None:
    """Add ``calls`` (member → model calls people caused) to the second ``at`` is in, and
    delete rows older than :data:`KEEP`."""
    second = _second(at)
    rows = [{"second": second, "member": m, "calls": n} for m, n in calls.items() if n > 0]
    if not rows:
        return
    table = InteractiveDemandRow.__table__
    with db.session() as session:
        insert = insert_for(session, InteractiveDemandRow)
        session.execute(
            insert.on_conflict_do_update(
                index_elements=["second", "member"],
                set_={"calls": table.c.calls + insert.excluded.calls},
            ),
            rows,
        )
        session.execute(delete(InteractiveDemandRow).where(table.c.second < second - KEEP))


@dataclass(frozen=True)
class MemberDemand:
    """People's calls of one member in a span of time, and the first and last seconds
    they were recorded in."""

    calls: int
    first: datetime
    last: datetime


def interactive_demand(db: Database, *, since: datetime) -> dict[str, MemberDemand]:
    """Model calls people caused per member from ``since`` (inclusive) on."""
    table = InteractiveDemandRow.__table__
    with db.session() as session:
        found = session.execute(
            select(
                table.c.member,
                func.sum(table.c.calls),
                func.min(table.c.second),
                func.max(table.c.second),
            )
            .where(table.c.second >= _second(since))
            .group_by(table.c.member)
        ).all()
    return {member: MemberDemand(int(calls), first, last) for member, calls, first, last in found}
