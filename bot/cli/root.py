"""The root `quorum` Typer app that every command module adds its commands to."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="quorum",
    help="Ask a panel of LLMs, get a calibrated consensus, keep an honest eval set.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
