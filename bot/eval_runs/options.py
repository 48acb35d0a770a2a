"""The benchmark's choices that the CLI shows before anything runs: which case sets a
run covers, and how many items justify a worker process. Kept free of heavy imports so
`quorum --help` can show them."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum

from evals.errors import InputError


class SetChoice(StrEnum):
    GOLDEN = "golden"
    ROTATING = "rotating"
    ALL = "all"


#: Starting a worker costs about as much CPU as this many model calls through litellm
#: (importing it: ~3 s of CPU; a call: ~6 ms), and for members asked straight over HTTP
#: a second worker gains a small run little (bench.runner_throughput), so the default
#: gives each worker at least this many items.
ITEMS_PER_WORKER = 500

#: How long a run may wait on rate limits in all: a sample still refused by the provider
#: then is a ``deadline`` error, one not started yet is left to resume.
DEFAULT_DEADLINE = timedelta(hours=6)

_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


def parse_duration(text: str, option: str = "--deadline") -> timedelta:
    """``6h``, ``90m``, ``1h30m``, ``45s``: a positive duration, or a friendly error."""
    match = _DURATION.fullmatch(text.strip().lower())
    if not text.strip() or match is None or not any(match.groups()):
        raise InputError(f"{option}: {text!r} is not a duration (e.g. 6h, 90m, 1h30m, 45s)")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    duration = timedelta(hours=hours, minutes=minutes, seconds=seconds)
    if duration <= timedelta(0):
        raise InputError(f"{option} must be longer than zero")
    return duration
