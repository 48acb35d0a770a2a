"""Running a coroutine from synchronous code: the CLI's entry points and worker processes."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``: a new event loop, closed afterwards. Ctrl-C cancels ``main``
    and then raises KeyboardInterrupt, as with ``asyncio.run``."""
    with asyncio.Runner() as runner:
        return runner.run(main)
