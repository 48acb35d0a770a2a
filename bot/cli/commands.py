"""Imports every command module so each registers itself on `bot.cli.root.app`."""

from bot.cli import (  # noqa: F401
    ask,
    case_files,
    cases,
    db,
    digest,
    doctor,
    eval,
    judge,
    offline,
    run,
    worker,
)
