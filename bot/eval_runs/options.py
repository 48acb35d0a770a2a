"""The benchmark's choices that the CLI shows before anything runs: which case sets a
run covers, and how many items justify a worker process. Kept free of heavy imports so
`quorum --help` can show them."""

from __future__ import annotations

from enum import StrEnum


class SetChoice(StrEnum):
    GOLDEN = "golden"
    ROTATING = "rotating"
    ALL = "all"


#: Starting a worker costs about as much CPU as this many model calls through litellm
#: (importing it: ~3 s of CPU; a call: ~6 ms), and for members asked straight over HTTP
#: a second worker gains a small run little (bench.runner_throughput), so the default
#: gives each worker at least this many items.
ITEMS_PER_WORKER = 500
