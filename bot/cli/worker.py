"""`quorum worker`: take benchmark work from the task queue (``QUORUM_TASK_QUEUE``)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bot.cli.edge import Exit, edge, err, load_settings_and_config
from bot.cli.root import app


@app.command("worker")
@edge
def worker_cmd(
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, help="Jobs (batches of samples) at once.")
    ] = 4,
    heartbeat: Annotated[
        float,
        typer.Option("--heartbeat", min=0.1, help="Seconds between this worker's heartbeats."),
    ] = 10.0,
    stalled_after: Annotated[
        float,
        typer.Option(
            "--stalled-after",
            min=0.5,
            help="Seconds without a heartbeat after which a worker's jobs go to others.",
        ),
    ] = 30.0,
) -> None:
    """Run scheduled benchmarks queued by the scheduler, on this machine, until stopped."""
    from bot.runtime.logs import configure_logging
    from bot.runtime.services import command_services

    settings, config = load_settings_and_config()
    if not settings.quorum_task_queue:
        err.print(
            "QUORUM_TASK_QUEUE is not set: point it at the PostgreSQL database the "
            "scheduler queues benchmarks in (usually the same as DATABASE_URL).",
            highlight=False,
        )
        raise typer.Exit(Exit.USAGE)
    configure_logging(settings.quorum_log_level)
    # Lazy: procrastinate takes ~0.2 s to import; other commands never need it.
    from bot.eval_runs.task_queue import run_worker

    services = command_services(settings, config)
    try:
        services.db.ensure_schema()
        err.print("Waiting for benchmark jobs (Ctrl-C stops after the jobs in progress).")
        asyncio.run(
            run_worker(
                services,
                settings.quorum_task_queue,
                concurrency=concurrency,
                heartbeat_s=heartbeat,
                stalled_after_s=stalled_after,
            )
        )
    finally:
        services.close()
