"""Storing a run's scored samples from a thread of its own, in batches.

One transaction per result, on the event loop, cost a run more CPU than its scheduling
and scoring together (0.65 ms per result on SQLite). The writer stores results in one
transaction off the event loop: once one arrives, it gathers what else arrives within
:data:`LINGER_S` (or until :data:`MAX_BATCH`). Without the linger a busy run still made
a transaction every few results; with it, 2,700 calls over two workers took 9% less CPU
and 6% less time (the parent's CPU fell from 8.6 s to 5.0 s).

:meth:`ResultWriter.put` only queues (no await, no I/O), so a result handed to it is
never lost to a cancellation (Ctrl-C): :meth:`ResultWriter.close` stores everything
queued before it returns.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from evals.protocols import Clock
from evals.runs.report import SampleResult
from storage import eval_repo
from storage.db import Database

log = logging.getLogger("quorum.benchmark")

#: The most results stored in one transaction.
MAX_BATCH = 500
#: How long the writer waits for more results after the first of a batch arrives.
LINGER_S = 0.1

_STOP = object()


class ResultWriter:
    def __init__(
        self,
        db: Database,
        run_id: int,
        clock: Clock,
        *,
        max_batch: int = MAX_BATCH,
        linger_s: float = LINGER_S,
    ) -> None:
        self.db = db
        self.run_id = run_id
        self.clock = clock
        self.max_batch = max_batch
        self.linger_s = linger_s
        self.batches = 0  # transactions committed
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="quorum-result-writer")
        self._thread.start()

    def put(self, result: SampleResult) -> None:
        """Queue one result; raises the error a previous write ran into, if any."""
        if self._error is not None:
            raise self._error
        self._queue.put(result)

    def close(self, *, raise_errors: bool = True) -> None:
        """Store everything queued, then stop the thread. Raises the first write error
        (unless ``raise_errors`` is False: another error is already on its way)."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        if raise_errors and self._error is not None:
            raise self._error

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: list[SampleResult] = []
            item = self._queue.get()
            until = time.monotonic() + self.linger_s
            while True:
                if item is _STOP:  # close(): store what is here now, wait for nothing
                    stop = True
                    break
                assert isinstance(item, SampleResult)
                batch.append(item)
                if len(batch) >= self.max_batch:
                    break
                try:
                    left = until - time.monotonic()
                    item = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._write(batch)

    def _write(self, batch: list[SampleResult]) -> None:
        try:
            with self.db.session() as session:
                eval_repo.save_results(session, self.run_id, batch, now=self.clock.now())
            self.batches += 1
        except Exception as exc:  # every later batch is still tried; the first error wins
            log.error("storing %d results of eval run %d failed", len(batch), self.run_id)
            if self._error is None:
                self._error = exc
