"""`quorum digest` (preview in the terminal, or post now) and `quorum clock` (the
scheduler alone, for a Procfile ``clock:`` process)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from bot.cli.edge import Exit, edge, err, load_settings_and_config, out
from bot.cli.root import app
from bot.cli.workspace_option import WorkspaceOption, resolve_workspace

if TYPE_CHECKING:
    from bot.runtime.services import Services
    from bot.schedule.jobs import JobOutcome


@app.command("digest")
@edge
def digest_cmd(
    preview: Annotated[
        bool, typer.Option("--preview", help="Print this week's digest here; post nothing.")
    ] = False,
    post: Annotated[
        bool, typer.Option("--post", help="Post the digest to slack.digest_channel now.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="With --post: post even if this week's was posted.")
    ] = False,
    chart: Annotated[
        Path | None,
        typer.Option(
            "--chart", help="Where --preview writes the chart (default: ./digest-WEEK.png)."
        ),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """The weekly digest: eval trends, production signals, calibration, shadow candidates."""
    if preview == post:
        err.print("Say what to do: `quorum digest --preview` or `quorum digest --post`.")
        raise typer.Exit(Exit.USAGE)
    if force and not post:
        err.print("--force only applies to --post.")
        raise typer.Exit(Exit.USAGE)
    from bot.cli.digest_render import digest_services, render
    from bot.schedule import jobs
    from bot.schedule.cron import JOB_DIGEST
    from evals.user_files import write_bytes
    from storage.tables.jobs import JobStatus

    settings, config = load_settings_and_config()
    services = digest_services(settings, config)
    try:
        ws = resolve_workspace(services.db, settings, workspace)
        if preview:
            now = services.clock.now()
            period = jobs.period_for(services, JOB_DIGEST, now)
            weekly = jobs.weekly_digest(services, workspace=ws, end=now, period=period)
            render(weekly.digest)
            path = chart or Path(f"digest-{period}.png")
            assert weekly.chart is not None
            write_bytes(path, weekly.chart)
            err.print(f"Chart written to {path}", highlight=False)
            return
        outcome = asyncio.run(_post(services, ws, force=force))
    finally:
        services.db.dispose()
    if not outcome.ran:
        existing = outcome.existing
        when = f" at {existing.started_at:%Y-%m-%d %H:%M} UTC" if existing else ""
        state = existing.status.value if existing else "handled"
        err.print(
            f"The digest for {outcome.period} was already {state}{when}; "
            "nothing posted (use --force to post again).",
            highlight=False,
        )
        return
    if outcome.status is JobStatus.DONE:
        out.print(f"Digest for {outcome.period} {outcome.detail}.", highlight=False)
        return
    err.print(f"[red]The digest was not posted:[/red] {escape(outcome.detail)}", highlight=False)
    raise typer.Exit(Exit.FAILED)


async def _post(services: Services, workspace: str, *, force: bool) -> JobOutcome:
    from bot.schedule import jobs
    from bot.schedule.cron import JOB_DIGEST

    client = await jobs.client_for(services, workspace)
    return await jobs.run_job(services, JOB_DIGEST, workspace=workspace, client=client, force=force)


@app.command("clock")
@edge
def clock_cmd() -> None:
    """Run only the scheduler (benchmarks and digests), for a Procfile `clock:` process."""
    from bot.runtime.logs import configure_logging
    from bot.runtime.services import build_services
    from bot.schedule import calibrators
    from bot.schedule.cron import build_schedules
    from bot.schedule.scheduler import run_clock
    from bot.slack.workspaces import claim_for_token

    settings, config = load_settings_and_config()
    configure_logging(settings.quorum_log_level)
    schedules = build_schedules(config)
    if not schedules:
        err.print("Nothing to schedule: both schedule.benchmark and schedule.digest are off.")
        raise typer.Exit(Exit.USAGE)
    services = build_services(settings, config)
    try:
        services.db.ensure_schema()
        asyncio.run(claim_for_token(services))  # as `quorum run` does: old rows are the token's
        calibrators.use_active_calibrator(services)
        for s in schedules:
            err.print(
                f"{s.job}: '{s.cron}' ({s.tz.key}), next at {s.next_fire(services.clock.now())}",
                highlight=False,
            )
        run_clock(services)
    finally:
        services.close()
