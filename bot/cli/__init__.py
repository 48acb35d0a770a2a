"""The `quorum` command. Each subcommand group lives in its own module and registers
itself on :data:`app`; errors are translated to friendly text here, at the edge."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import typer
from dotenv import load_dotenv

from bot.logs import configure_logging

app = typer.Typer(
    name="quorum",
    help="Ask a panel of LLMs, get a calibrated consensus, keep an honest eval set.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # Imported for their side effect of adding commands to `app`.
    from bot.cli import commands  # noqa: F401


def main(argv: Sequence[str] | None = None) -> None:
    # Provider keys referenced as os.environ/NAME may live in .env next to quorum.yaml.
    load_dotenv(override=False)
    # Commands show problems themselves; logs stay quiet unless asked (`quorum run` and
    # `quorum clock` switch to QUORUM_LOG_LEVEL, default INFO, when they start).
    configure_logging(os.environ.get("QUORUM_LOG_LEVEL", "ERROR"))
    _register()
    args = list(sys.argv[1:] if argv is None else argv)
    app(args=args, prog_name="quorum")
