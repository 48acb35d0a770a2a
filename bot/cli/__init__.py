"""The `quorum` command. Each subcommand group lives in its own module and registers
itself on :data:`bot.cli.root.app`; errors are translated to friendly text at the edge
(:func:`bot.cli.common.edge`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from dotenv import load_dotenv

# Imported for its side effect: every command module registers its commands on `app`.
from bot.cli import commands  # noqa: F401
from bot.cli.root import app
from bot.logs import configure_logging

__all__ = ["app", "main"]


def main(argv: Sequence[str] | None = None) -> None:
    # Provider keys referenced as os.environ/NAME may live in .env next to quorum.yaml.
    load_dotenv(override=False)
    # Commands show problems themselves; logs stay quiet unless asked (`quorum run` and
    # `quorum clock` switch to QUORUM_LOG_LEVEL, default INFO, when they start).
    configure_logging(os.environ.get("QUORUM_LOG_LEVEL", "ERROR"))
    args = list(sys.argv[1:] if argv is None else argv)
    app(args=args, prog_name="quorum")
