"""The scheduled jobs: the weekly eval run ("benchmark" in quorum.yaml's ``schedule``),
the weekly digest and the calibrator refit, as plain functions (:mod:`~bot.schedule.jobs`,
:mod:`~bot.schedule.calibrators`); when each is due and which period it owns
(:mod:`~bot.schedule.cron`); APScheduler wiring only (:mod:`~bot.schedule.scheduler`)."""
