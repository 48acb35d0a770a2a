"""Background tasks of the Slack surface: started, kept referenced, errors logged.

A Slack listener must ack within 3 s, so the panel, the case intake and every slow
follow-up run as tasks started here; shutdown and tests wait for them with :func:`drain`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("bot.background")

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


async def drain(wait_s: float = 10.0) -> None:
    """Wait for the background tasks started so far (shutdown, tests)."""
    pending = [t for t in _tasks if not t.done()]
    if pending:
        await asyncio.wait(pending, timeout=wait_s)


def pending_tasks() -> int:
    return sum(1 for t in _tasks if not t.done())
