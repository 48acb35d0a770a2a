"""What a process is built from: one typed :mod:`~bot.runtime.settings` read at start,
the validated quorum.yaml (:mod:`~bot.runtime.config`), the adapters and services built
once (:mod:`~bot.runtime.adapters`, :mod:`~bot.runtime.services`), bounded database waits
(:mod:`~bot.runtime.db_guard`), the rate budget benchmarks share with people across
processes (:mod:`~bot.runtime.shared_budget`), logging without secrets
(:mod:`~bot.runtime.logs`), what must be set before the bot starts
(:mod:`~bot.runtime.preflight`), and two process-level tunings: the garbage collector
paused while a command starts
(:mod:`~bot.runtime.gc_pause`) and free heap handed back when idle
(:mod:`~bot.runtime.heap_trim`)."""
