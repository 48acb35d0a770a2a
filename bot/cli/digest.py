"""`quorum digest` (preview in the terminal, or post now) and `quorum clock` (the
scheduler alone, for a Procfile ``clock:`` process)."""

from __future__ import annotations

import asyncio
import re
from html import unescape
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bot import calibrators, jobs
from bot.cli.common import Exit, edge, err, load_settings_and_config, out
from bot.cli.root import app
from bot.config import QuorumConfig
from bot.digest_blocks import failure_mode_text, model_text, pct, shadow_text, window
from bot.logs import configure_logging
from bot.scheduler import run_clock
from bot.schedules import JOB_DIGEST, build_schedules
from bot.services import Services, build_services, command_services
from bot.settings import Settings
from bot.verdict import shorten_words
from evals.digest import Digest
from evals.inputs import write_bytes
from storage.job_tables import JobStatus


def digest_services(settings: Settings, config: QuorumConfig) -> Services:
    """Services for the digest: no model is called, so the embedder is not loaded."""
    services = command_services(settings, config)
    try:
        services.db.prepare_schema()
        services.calibrator = calibrators.load_active_calibrator(services) or services.calibrator
    except BaseException:
        services.db.dispose()
        raise
    return services


def _say(markup: str, style: str = "") -> None:
    """A paragraph wrapped between words at the terminal's width."""
    out.print(Text.from_markup(markup, style=style))


def _plain(mrkdwn: str) -> str:
    """One of :mod:`bot.digest_blocks`' mrkdwn lines as rich markup."""
    text = unescape(mrkdwn.replace("*", ""))
    return re.sub(r"<([^|>]+)\|([^>]+)>", r"\2 (\1)", escape(text))


def render(digest: Digest) -> None:
    """The digest for people at a terminal (80 columns and up): decisions first."""
    out.rule(f"[bold]Quorum weekly digest · {escape(digest.period)}[/bold]")
    _say(f"{window(digest)} · {digest.questions} question(s)", style="dim")
    out.print()
    if digest.decisions:
        _say("[bold]This week, decide:[/bold]")
        for decision in digest.decisions:
            _say(f"  • {escape(decision)}")
    else:
        _say("[bold]Nothing needs a decision this week.[/bold]")
    _say(f"\n[bold]Biggest change:[/bold] {escape(digest.headline)}")
    for warning in digest.warnings:
        _say(f"[yellow]⚠ {escape(warning)}[/yellow]")
    for note in digest.notes:
        _say(f"[dim]{escape(note)}[/dim]")

    if digest.models:
        _say("\n[bold]Models this week[/bold]")
        for line in digest.models:
            text = _plain(model_text(line, digest.timezone))
            name, _, rest = text.partition("\n")
            role = " [dim](shadow)[/dim]" if line.role == "shadow" else ""
            _say(f"[bold]{name}[/bold]{role}: {rest}")
        _say(escape(digest.rank_agreement.text))

    cal = digest.calibration
    _say("\n[bold]Confidence vs users[/bold]")
    _say(escape(cal.verdict))
    if cal.ece is not None:
        bins = Table(box=box.SIMPLE, title=f"ECE {cal.ece:.2f} over {cal.n} judged answers")
        for column in ("Quorum said", "mean", "users agreed", "n"):
            bins.add_column(column, justify="right")
        for b in cal.bins:
            bins.add_row(
                f"{b.low:.0%}–{b.high:.0%}", pct(b.mean_confidence), pct(b.accuracy), str(b.count)
            )
        out.print(bins)
    if cal.refit is not None:
        verb = "refitted" if cal.refit.refitted else "not refitted"
        _say(f"Calibrator {verb}: {escape(cal.refit.reason)}")

    if digest.regressions:
        _say(f"\n[bold]Regressions[/bold] ({len(digest.regressions)}): passed before, fail now")
        for r in digest.regressions:
            _say(f"  • {escape(r.model)}: {escape(r.case_id)}")
    if digest.new_failure_modes:
        modes = ", ".join(f"{failure_mode_text(m)} ({n})" for m, n in digest.new_failure_modes)
        _say(f"\n[bold]New failure modes:[/bold] {escape(modes)}")
    _say(f"\n[bold]Awaiting review:[/bold] {digest.review_total} proposed case(s)")
    for item in digest.review:
        question = shorten_words(" ".join(item.question.split()), 100)
        _say(f"  • {escape(item.case_id)}  {escape(question)}")

    if digest.shadow:
        _say("\n[bold]Shadow candidates[/bold] (answers never shown to users)")
        for s in digest.shadow:
            _say(_plain(shadow_text(s)))


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
) -> None:
    """The weekly digest: eval trends, production signals, calibration, shadow candidates."""
    if preview == post:
        err.print("Say what to do: `quorum digest --preview` or `quorum digest --post`.")
        raise typer.Exit(Exit.USAGE)
    if force and not post:
        err.print("--force only applies to --post.")
        raise typer.Exit(Exit.USAGE)
    settings, config = load_settings_and_config()
    services = digest_services(settings, config)
    try:
        if preview:
            now = services.clock.now()
            period = jobs.period_for(services, JOB_DIGEST, now)
            weekly = jobs.weekly_digest(services, end=now, period=period)
            render(weekly.digest)
            path = chart or Path(f"digest-{period}.png")
            assert weekly.chart is not None
            write_bytes(path, weekly.chart)
            err.print(f"Chart written to {path}", highlight=False)
            return
        outcome = asyncio.run(jobs.run_job(services, JOB_DIGEST, force=force))
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


@app.command("clock")
@edge
def clock_cmd() -> None:
    """Run only the scheduler (benchmarks and digests), for a Procfile `clock:` process."""
    settings, config = load_settings_and_config()
    configure_logging(settings.quorum_log_level)
    schedules = build_schedules(config)
    if not schedules:
        err.print("Nothing to schedule: both schedule.benchmark and schedule.digest are off.")
        raise typer.Exit(Exit.USAGE)
    services = build_services(settings, config)
    try:
        services.db.ensure_schema()
        services.calibrator = calibrators.load_active_calibrator(services) or services.calibrator
        for s in schedules:
            err.print(
                f"{s.job}: '{s.cron}' ({s.tz.key}), next at {s.next_fire(services.clock.now())}",
                highlight=False,
            )
        run_clock(services)
    finally:
        services.close()
