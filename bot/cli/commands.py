"""Imports every command module so each registers itself on `bot.cli.root.app`."""

from bot.cli import ask, db, digest, doctor, judge, offline, run, worker  # noqa: F401
from bot.cli.cases import files, review  # noqa: F401
from bot.cli.eval import commands  # noqa: F401
