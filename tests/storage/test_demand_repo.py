"""The shared record of interactive demand, on both backends and from two processes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from storage import demand_repo
from storage.db import Database
from storage.demand_repo import MemberDemand

NOW = datetime(2026, 12, 6, 21, 0, 0, 400_000, tzinfo=UTC)


@pytest.fixture
def other(db: Database) -> Iterator[Database]:
    """A second process's handle on the same database."""
    second = Database(db.url.render_as_string(hide_password=False))
    yield second
    second.dispose()


def test_counts_add_up_per_member_and_second_across_writers(db: Database, other: Database) -> None:
    demand_repo.record_interactive(db, {"alpha": 3, "beta": 1}, at=NOW)
    demand_repo.record_interactive(other, {"alpha": 2, "gamma": 0}, at=NOW)
    demand_repo.record_interactive(db, {"alpha": 1}, at=NOW + timedelta(seconds=1))
    since = NOW - timedelta(seconds=5)
    first = NOW.replace(microsecond=0)
    assert demand_repo.interactive_demand(other, since=since) == {
        "alpha": MemberDemand(6, first, first + timedelta(seconds=1)),
        "beta": MemberDemand(1, first, first),
    }
    # Only the seconds asked for: the second NOW is in is left out from NOW + 1 s on.
    later = demand_repo.interactive_demand(db, since=NOW + timedelta(seconds=1))
    second = first + timedelta(seconds=1)
    assert later == {"alpha": MemberDemand(1, second, second)}
    assert demand_repo.interactive_demand(db, since=NOW + timedelta(seconds=2)) == {}


def test_old_rows_are_deleted_by_the_writer(db: Database) -> None:
    demand_repo.record_interactive(db, {"alpha": 4}, at=NOW)
    much_later = NOW + demand_repo.KEEP + timedelta(seconds=2)
    demand_repo.record_interactive(db, {"beta": 1}, at=much_later)
    long_ago = NOW - timedelta(hours=1)
    assert demand_repo.interactive_demand(db, since=long_ago).keys() == {"beta"}


def test_naive_times_are_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="naive"):
        demand_repo.record_interactive(db, {"alpha": 1}, at=datetime(2026, 12, 6, 21, 0))
