"""Background tasks of the Slack surface: started, kept referenced, errors logged.

A Slack listener must ack within 3 s, so the panel, the case intake and every slow
follow-up run as tasks started here; shutdown and tests wait for them with :func:`drain`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("bot.slack.background_tasks")

_tasks: set[asyncio.Task[Any]] = set()


def spawn(coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
    """Run ``coro`` in the background, keeping a reference; errors are logged, not raised."""

    async def guarded() -> None:
        try:
            await coro
        except Exception:
            log.exception("background task %s failed", name)

    task = asyncio.create_task(guarded(), name=name)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


#: How long shutdown waits for work in flight: under the 30 s most platforms allow
#: between SIGTERM and SIGKILL.
DRAIN_S = 25.0


async def drain(wait_s: float = DRAIN_S) -> None:
    """Wait up to ``wait_s`` for every background task, including those the waited-for
    tasks start meanwhile (a compare spawns its follow-ups as it finishes)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while pending := [t for t in _tasks if not t.done()]:
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.warning("shutting down with %d background task(s) unfinished", len(pending))
            return
        await asyncio.wait(pending, timeout=remaining)


def pending_tasks() -> int:
    return sum(1 for t in _tasks if not t.done())
