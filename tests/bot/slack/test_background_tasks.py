"""Shutdown waits for the work in flight, including follow-ups started while waiting."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.slack.background_tasks import drain, pending_tasks, spawn


async def test_drain_waits_for_tasks_spawned_while_draining() -> None:
    done: list[str] = []

    async def follow_up() -> None:
        await asyncio.sleep(0.05)
        done.append("stored")

    async def compare() -> None:
        await asyncio.sleep(0.05)
        done.append("posted")
        spawn(follow_up(), "store")  # started after drain() looked

    spawn(compare(), "compare")
    await drain(wait_s=5)
    assert done == ["posted", "stored"]
    assert pending_tasks() == 0


async def test_drain_gives_up_after_its_time_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    task = spawn(asyncio.sleep(10), "stuck")
    with caplog.at_level(logging.WARNING, logger="bot.slack.background_tasks"):
        await drain(wait_s=0.1)
    assert "1 background task(s) unfinished" in caplog.text
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
