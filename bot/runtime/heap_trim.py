"""Give the heap's free memory back to the system when the bot goes idle after a burst.

A burst of /compare leaves glibc's heap holding memory its requests freed (embeddings,
HTTP bodies, Slack blocks); glibc keeps it for reuse, so the process's RSS stays at the
burst's peak. ``malloc_trim(0)`` returns the free pages; it runs once the last /compare
in flight finishes, in a worker thread (it walks the heap). Measured with
``bench.bot_memory``: steady RSS after 50 concurrent /compare falls by the figure in
docs/performance.md. Elsewhere than glibc (musl, macOS) it does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

log = logging.getLogger(__name__)


def _find_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _find_trim()


def trim_heap() -> bool:
    """Return the heap's free pages to the system now; False where that cannot be done."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


class IdleTrim:
    """Counts work in flight; trims the heap each time the count falls back to zero."""

    def __init__(self, trim: Callable[[], object] = trim_heap) -> None:
        self._trim = trim
        self._lock = threading.Lock()
        self._in_flight = 0

    @asynccontextmanager
    async def busy(self) -> AsyncIterator[None]:
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                idle = self._in_flight == 0
            if idle:
                try:
                    await asyncio.to_thread(self._trim)
                except RuntimeError:  # the loop is shutting down
                    log.debug("heap trim skipped at shutdown")
