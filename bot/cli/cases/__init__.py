"""`quorum cases ...`: the command group and what its commands share
(:mod:`~bot.cli.cases.group`), review/edit/rotate (:mod:`~bot.cli.cases.review`) and
export/import (:mod:`~bot.cli.cases.files`)."""
