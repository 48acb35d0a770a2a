"""Money is printed one way everywhere; a real cost never reads as free."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evals.money import usd


@pytest.mark.parametrize(
    ("cost", "shown"),
    [
        (None, "unknown"),
        (0.0, "$0"),
        (1e-9, "<$0.0001"),
        (0.00004, "<$0.0001"),
        (0.00012, "$0.0001"),
        (0.0123, "$0.0123"),
        (0.5, "$0.5000"),
        (12.345, "$12.35"),
        (-0.00001, "-<$0.0001"),
    ],
)
def test_usd(cost: float | None, shown: str) -> None:
    assert usd(cost) == shown


@given(st.floats(min_value=1e-12, max_value=1e6, allow_nan=False))
def test_a_positive_cost_never_prints_as_zero(cost: float) -> None:
    for cents_from in (1.0, 0.01):
        shown = usd(cost, cents_from=cents_from)
        assert not re.fullmatch(r"\$0(\.0+)?", shown), shown
