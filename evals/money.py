"""One way to print money everywhere (Slack, the CLI, reports, the digest).

Costs of a single call are often a fraction of a cent: "$0.0012". A cost too small to
show in four decimals prints as "<$0.0001", never "$0.0000", which reads as "free".
An unknown cost (no provider priced the call) is said in words, never as "$0".
"""

from __future__ import annotations

#: The smallest amount shown with digits; anything smaller (but above zero) is "<$0.0001".
SMALLEST_SHOWN = 0.0001


def usd(cost: float | None, *, unknown: str = "unknown", cents_from: float = 1.0) -> str:
    """``$1.25``, ``$0.0123``, ``<$0.0001``, ``$0`` (exactly free) or ``unknown``.

    Amounts from ``cents_from`` up print with two decimals, smaller ones with four.
    """
    if cost is None:
        return unknown
    if cost == 0:
        return "$0"
    sign = "-" if cost < 0 else ""
    value = abs(cost)
    if round(value, 4) < SMALLEST_SHOWN:
        return f"{sign}<$0.0001"
    if value >= cents_from:
        return f"{sign}${value:.2f}"
    return f"{sign}${value:.4f}"
