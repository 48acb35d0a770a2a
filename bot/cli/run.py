"""`quorum run`: the bot. Socket Mode when SLACK_APP_TOKEN is set, otherwise HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.edge import Exit, edge, err, load_settings_and_config
from bot.cli.root import app

if TYPE_CHECKING:
    from bot.runtime.services import Services

log = logging.getLogger("quorum.run")


@app.command()
@edge
def run(
    http: Annotated[
        bool, typer.Option("--http", help="Serve HTTP even when SLACK_APP_TOKEN is set.")
    ] = False,
    scheduler: Annotated[
        bool | None,
        typer.Option(
            "--scheduler/--no-scheduler",
            help="Run benchmarks and the digest in this process (default: QUORUM_SCHEDULER).",
        ),
    ] = None,
) -> None:
    """Start the Slack bot (and, by default, the in-process scheduler)."""
    # Imported here, not to register the command (fast `quorum --help`).
    from bot.runtime.logs import configure_logging
    from bot.runtime.preflight import (
        explain,
        missing_provider_keys,
        missing_slack,
        slack_conflict,
    )
    from bot.runtime.services import build_services
    from bot.schedule.calibrators import use_active_calibrator

    settings, config = load_settings_and_config()
    conflict = slack_conflict(settings)
    if conflict:
        err.print(f"Configuration problem: {conflict}", highlight=False, markup=False)
        raise typer.Exit(Exit.USAGE)
    socket_mode = settings.slack_app_token is not None and not http
    missing = missing_slack(settings, socket_mode=socket_mode) + missing_provider_keys(config)
    if missing:
        err.print(explain(missing), highlight=False, markup=False)
        raise typer.Exit(Exit.USAGE)
    configure_logging(settings.quorum_log_level)
    services = build_services(settings, config)
    services.db.ensure_schema()
    use_active_calibrator(services)
    with_scheduler = settings.quorum_scheduler if scheduler is None else scheduler
    try:
        asyncio.run(_serve(services, socket_mode=socket_mode, with_scheduler=with_scheduler))
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None  # stopped by SIGTERM: the same exit as Ctrl-C


def _stop_on_sigterm() -> None:
    """Platforms stop processes with SIGTERM: cancel the serving task, which drains the
    work in flight and closes everything, as Ctrl-C does. The cancellation is delivered
    by the event loop, so it never lands in the middle of some other task's code (a
    handler raising KeyboardInterrupt did, and left a traceback)."""
    task = asyncio.current_task()
    assert task is not None
    with contextlib.suppress(NotImplementedError):  # no loop signal handlers on Windows
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)


async def _serve(services: Services, *, socket_mode: bool, with_scheduler: bool) -> None:
    # Lazy: the Slack app and aiohttp's server take ~0.25 s to import; `quorum --help` and
    # every other command skip them (fast CLI start).
    from bot.schedule.scheduler import start_housekeeping, start_scheduler
    from bot.server import serve_http, serve_socket_mode

    _stop_on_sigterm()
    await services.warm_up()
    # Without the job scheduler (Procfile web:), still pick up a refit made by `clock`.
    scheduler = start_scheduler(services) if with_scheduler else start_housekeeping(services)
    try:
        if socket_mode:
            log.info("Connecting to Slack with Socket Mode")
            await serve_socket_mode(services)
        else:
            log.info("Serving Slack's requests on :%d/slack/events", services.settings.port)
            await serve_http(services, services.settings.port)
    finally:
        scheduler.shutdown(wait=False)
        services.close()
