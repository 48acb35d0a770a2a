"""The bot gives freed heap back to the system when a burst of /compare is over."""

from __future__ import annotations

import asyncio
import sys

import pytest

from bot.runtime.heap_trim import IdleTrim, trim_heap


def _rss() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_trim_returns_a_fragmented_heap_to_the_system() -> None:
    # 200 MB in 2 KB blocks, every tenth kept: the free holes sit between live blocks, so
    # glibc keeps them (RSS stays up) until the heap is trimmed.
    blocks = [bytes(2048) for _ in range(100_000)]
    kept = blocks[::10]
    del blocks
    before = _rss()
    assert trim_heap()
    after = _rss()
    assert before - after > 100 * 2**20, (before, after)
    assert len(kept) == 10_000


async def test_the_heap_is_trimmed_once_when_the_last_request_finishes() -> None:
    trims: list[int] = []
    idle = IdleTrim(trim=lambda: trims.append(1))
    first_done, second_done = asyncio.Event(), asyncio.Event()

    async def request(done: asyncio.Event) -> None:
        async with idle.busy():
            await done.wait()

    first = asyncio.create_task(request(first_done))
    second = asyncio.create_task(request(second_done))
    await asyncio.sleep(0)
    first_done.set()
    await first
    assert trims == []  # one still in flight: no trim yet
    second_done.set()
    await second
    assert trims == [1]
