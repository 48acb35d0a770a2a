"""`quorum eval run|report|compare|list` (:mod:`~bot.cli.eval.commands`), what they show
(:mod:`~bot.cli.eval.output`) and the run's head start (:mod:`~bot.cli.eval.head_start`)."""
