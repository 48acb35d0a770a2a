"""The eval-run service: eval cases × models × samples, planned, executed, stored.

The one code path behind `quorum eval run`, the scheduled weekly run and `quorum worker`:
:mod:`~bot.eval_runs.plan` decides a run, :mod:`~bot.eval_runs.service` runs it,
:mod:`~bot.eval_runs.worker_processes` spreads it over processes on this machine,
:mod:`~bot.eval_runs.task_queue` over `quorum worker` processes anywhere, and
:mod:`~bot.eval_runs.writer` stores samples as they finish.
"""
