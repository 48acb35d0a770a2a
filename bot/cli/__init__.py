"""The `quorum` command. Each subcommand group lives in its own module and registers
itself on :data:`bot.cli.root.app`; errors are translated to friendly text at the edge
(:func:`bot.cli.edge.edge`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dotenv import load_dotenv

from bot.runtime import gc_pause
from bot.runtime.logs import configure_logging

if TYPE_CHECKING:
    import typer

    from bot.cli.root import app

__all__ = ["app", "main"]


def main(argv: Sequence[str] | None = None) -> None:
    gc_pause.claim_process()
    # Provider keys referenced as os.environ/NAME may live in .env next to quorum.yaml.
    load_dotenv(override=False)
    # Commands show problems themselves; logs stay quiet unless asked (`quorum run` and
    # `quorum clock` switch to QUORUM_LOG_LEVEL, default INFO, when they start).
    configure_logging(os.environ.get("QUORUM_LOG_LEVEL", "ERROR"))
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        with gc_pause.start_up():
            if args[:2] == ["eval", "run"]:
                from bot.cli.eval.head_start import head_start

                head_start(args[2:])
            command_app = _registered_app()
        command_app(args=args, prog_name="quorum")
    finally:
        gc_pause.before_exit()


def _registered_app() -> typer.Typer:
    # Imported for its side effect: every command module registers its commands on `app`.
    from bot.cli import commands  # noqa: F401
    from bot.cli.root import app

    return app


def __getattr__(name: str) -> Any:
    """``from bot.cli import app``: the app with every command registered."""
    if name == "app":
        return _registered_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
