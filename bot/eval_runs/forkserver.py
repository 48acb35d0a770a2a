"""The process that forks a run's worker processes, started as early as a command knows
it may need workers.

Workers are forked from a ``forkserver`` that has imported Quorum once (on POSIX;
``spawn`` elsewhere), so N workers do not pay N times for those imports. Importing Quorum
takes about a second of CPU; a command that starts the forkserver before it imports and
plans (:func:`start_early`) lets that happen on another core meanwhile, and its first
worker starts the moment the plan is ready.

Kept free of Quorum's own heavy imports: calling :func:`start_early` must cost nothing.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext, SpawnContext

#: What a forked worker needs imported; the forkserver imports it once for all of them
#: (aiohttp: the client of members on OpenAI-compatible servers imports it on first use),
#: with the collector paused (:mod:`bot.eval_runs.preload_gc`).
PRELOAD = ["bot.eval_runs.preload_gc", "__main__", "bot.eval_runs.worker_processes", "aiohttp"]
#: ... and when a member needs litellm (``openai.resources``: the OpenAI SDK's lazy import
#: on litellm's first call, 1-2 s).
PRELOAD_LITELLM = ["evals.models.litellm_client", "openai.resources"]


def context(*, with_litellm: bool) -> ForkServerContext | SpawnContext:
    """The start method for worker processes, with the forkserver running. A forkserver
    already running (started early, or by an earlier pool of this process) keeps what it
    preloaded; a worker imports anything else it needs itself."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD + (PRELOAD_LITELLM if with_litellm else []))
    # Python 3.11's forkserver ignores the parent's sys.path when it imports the preloaded
    # modules, so it could import another copy of Quorum than this process runs (a
    # checkout next to an installed one). Starting it with PYTHONPATH set avoids that.
    path = os.pathsep.join(p or os.getcwd() for p in sys.path)
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = path
    try:
        forkserver.ensure_running()
    finally:
        if previous is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = previous
    return ctx


def start_early(*, with_litellm: bool) -> None:
    """Start the forkserver now, for workers this process may start later. Does nothing
    on a machine with one core (a run there uses one process) or without forkserver."""
    if cpu_count() > 1:
        context(with_litellm=with_litellm)


def cpu_count() -> int:
    """The cores this process may use."""
    counter: Callable[[], int | None] | None = getattr(os, "process_cpu_count", None)
    if counter is None and hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, (counter or os.cpu_count)() or 1)
