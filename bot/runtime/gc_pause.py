"""The cyclic garbage collector around a `quorum` command's start and end.

A command imports several hundred modules and builds its settings, config and plan, all
of which live until the process ends. Python's cyclic collector walks every one of them
again and again meanwhile: while a `quorum eval run --workers 2` starts, about a tenth of
a second (one full collection took 63 ms in the middle of planning), and at interpreter
shutdown another 0.2-0.3 s. Hence:

- :func:`start_up`: the collector pauses while long-lived objects are made; in a process
  that runs one command (:func:`claim_process`) they are then frozen (``gc.freeze``), so
  later collections skip them. A process that merely calls a command (a test through
  Typer's runner) only gets the pause, never a frozen heap.
- :func:`before_exit`: the process ends next; freezing everything skips the collector's
  final walk over objects whose memory the OS takes back anyway.

Reference counting frees memory as always; only cycles made before a freeze stay.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_claimed = False


def claim_process() -> None:
    """This process runs one command and then exits (``quorum``'s entry point)."""
    global _claimed
    _claimed = True


@contextmanager
def start_up() -> Iterator[None]:
    """Make long-lived objects inside: the collector is paused meanwhile and, in a
    claimed process, no longer walks them afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if _claimed:
            gc.freeze()
        if enabled:
            gc.enable()


def before_exit() -> None:
    """Call as the very last step of a claimed process."""
    if _claimed:
        gc.freeze()
