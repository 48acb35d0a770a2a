"""`quorum doctor`: is everything Quorum needs in place? One line per check."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from bot.cli.edge import Exit, edge, load_settings_and_config, out
from bot.cli.root import app


@app.command()
@edge
def doctor() -> None:
    """Check the configuration, keys, every model (a tiny call), the database and the embedder.

    Exit code 0 when every required check passes, 1 otherwise.
    """
    from bot.cli.doctor_checks import run_checks

    settings, config = load_settings_and_config()
    checks = run_checks(settings, config)

    table = Table(title="quorum doctor")
    for column in ("check", "", "detail"):
        table.add_column(column)
    for c in checks:
        mark = (
            "[green]✓[/green]" if c.ok else ("[red]✗[/red]" if c.required else "[yellow]![/yellow]")
        )
        table.add_row(escape(c.name), mark, escape(c.detail))
    out.print(table)
    failed = [c for c in checks if c.required and not c.ok]
    if failed:
        out.print(f"{len(failed)} check(s) failed.")
        raise typer.Exit(Exit.FAILED)
    out.print("All required checks passed.")
