"""The /compare flow (:mod:`~bot.compare.flow`): who may ask (:mod:`~bot.compare.limits`),
where progress and the result show (:mod:`~bot.compare.destination`), getting the result
in front of the asker when Slack refuses (:mod:`~bot.compare.delivery`), shadow
candidates (:mod:`~bot.compare.shadow`), storing the run (:mod:`~bot.compare.run_store`,
with :mod:`~bot.compare.run_spool` while the database is down) and turning a 👎, 🚩 or
correction into a proposed eval case (:mod:`~bot.compare.case_intake`)."""
