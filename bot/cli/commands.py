"""Imports every command module so each registers itself on `bot.cli.root.app`."""

from bot.cli import ask, cases, db, digest, doctor, eval, offline, run  # noqa: F401
