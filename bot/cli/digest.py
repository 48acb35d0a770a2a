"""`quorum digest` (preview in the terminal, or post now) and `quorum clock` (the
scheduler alone, for a Procfile ``clock:`` process)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from bot import calibrators, jobs
from bot.cli.common import Exit, edge, err, load_settings_and_config, out
from bot.cli.root import app
from bot.config import QuorumConfig
from bot.digest_blocks import failure_mode_text, ms, pct, usd, window
from bot.logs import configure_logging
from bot.scheduler import run_clock
from bot.schedules import JOB_DIGEST, build_schedules
from bot.services import Services, build_services, command_services
from bot.settings import Settings
from evals.digest import Digest
from storage.job_tables import JobStatus


def digest_services(settings: Settings, config: QuorumConfig) -> Services:
    """Services for the digest: no model is called, so the embedder is not loaded."""
    services = command_services(settings, config)
    services.calibrator = calibrators.load_active_calibrator(services) or services.calibrator
    return services


def render(digest: Digest) -> None:
    """The digest for people at a terminal, with rich."""
    out.rule(f"[bold]Quorum weekly digest · {escape(digest.period)}[/bold]")
    out.print(f"{window(digest)} · {digest.questions} question(s)", style="dim")
    out.print(f"\n[bold]{escape(digest.headline)}[/bold]")
    for warning in digest.warnings:
        out.print(f"[yellow]⚠ {escape(warning)}[/yellow]")
    for note in digest.notes:
        out.print(f"[dim]{escape(note)}[/dim]")

    if digest.models:
        table = Table(title="Models this week", box=box.SIMPLE_HEAVY, title_justify="left")
        for column in ("model", "eval (95% CI)", "vs last week", "👍", "answers", "preferred"):
            table.add_column(column)
        table.add_column("p50 / p95", justify="right")
        table.add_column("$ / 100 q", justify="right")
        for line in digest.models:
            evaluation = (
                f"{pct(line.eval.rate.rate)} ({pct(line.eval.rate.low)}–{pct(line.eval.rate.high)}"
                f", n={line.eval.rate.n})"
                if line.eval
                else "–"
            )
            thumbs = f"{pct(line.thumbs.rate)} of {line.thumbs.n}" if line.thumbs else "–"
            preferred = (
                f"#{line.preference.rank} ({line.preference.wins}/{line.preference.votes})"
                if line.preference and line.preference.votes
                else "–"
            )
            name = escape(line.model) + (" [dim](shadow)[/dim]" if line.role == "shadow" else "")
            table.add_row(
                name,
                evaluation,
                escape(line.eval.change_text) if line.eval else "–",
                thumbs,
                str(line.volume),
                preferred,
                f"{ms(line.latency_p50_ms)} / {ms(line.latency_p95_ms)}",
                usd(line.cost_per_100) if line.cost_per_100 is not None else "–",
            )
        out.print(table)
        out.print(escape(digest.rank_agreement.text))

    cal = digest.calibration
    out.print("\n[bold]Confidence vs users[/bold]")
    if cal.ece is None:
        out.print("No 👍/👎 or corrections on consensus answers this week.")
    else:
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
        out.print(f"Calibrator {verb}: {escape(cal.refit.reason)}")

    if digest.regressions:
        out.print(
            f"\n[bold]Regressions[/bold] ({len(digest.regressions)}): passed last week, fail now"
        )
        for r in digest.regressions:
            out.print(f"  • {escape(r.model)}: {escape(r.case_id)}")
    if digest.new_failure_modes:
        modes = ", ".join(f"{failure_mode_text(m)} ({n})" for m, n in digest.new_failure_modes)
        out.print(f"\n[bold]New failure modes:[/bold] {escape(modes)}")
    out.print(f"\n[bold]Awaiting review:[/bold] {digest.review_total} proposed case(s)")
    for item in digest.review:
        out.print(f"  • {escape(item.case_id)}  {escape(' '.join(item.question.split())[:100])}")

    if digest.shadow:
        shadow = Table(title="Shadow candidates", box=box.SIMPLE_HEAVY, title_justify="left")
        for column in ("model", "questions", "agreement", "eval vs panel", "Δ $/100 q", "Δ p50"):
            shadow.add_column(column)
        for s in digest.shadow:
            shadow.add_row(
                escape(s.model),
                str(s.questions),
                pct(s.mean_agreement),
                f"{pct(s.eval_rate)} vs {pct(s.panel_eval_rate)}",
                "–" if s.cost_delta_per_100 is None else f"{s.cost_delta_per_100:+.2f}",
                "–" if s.latency_p50_delta_ms is None else f"{s.latency_p50_delta_ms:+.0f} ms",
            )
        out.print(shadow)
        for s in digest.shadow:
            for d in s.disagreements:
                where = f" {d.link}" if d.link else ""
                question = escape(" ".join(d.question.split())[:80])
                out.print(f"  {escape(s.model)} disagreed ({pct(d.agreement)}): {question}{where}")


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
        services.db.ensure_schema()
        if preview:
            now = services.clock.now()
            period = jobs.period_for(services, JOB_DIGEST, now)
            weekly = jobs.weekly_digest(services, end=now, period=period)
            render(weekly.digest)
            path = chart or Path(f"digest-{period}.png")
            assert weekly.chart is not None
            path.write_bytes(weekly.chart)
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
