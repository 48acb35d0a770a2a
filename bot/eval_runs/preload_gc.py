"""Imported first by the worker forkserver, and by nothing else: it pauses the cyclic
collector while the forkserver imports what the workers need (0.05-0.1 s sooner ready).

Python's advice for a process that forks workers (``gc.freeze``'s documentation):
disable the collector in the parent, freeze what exists when the child starts, enable the
collector in the child. Every child of this forkserver is a worker, and each does the
last two first thing (:func:`bot.eval_runs.worker_processes.worker_main`); the forkserver
itself only ever forks.
"""

import gc

gc.disable()
