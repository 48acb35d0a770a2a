"""The weekly digest for people at a terminal (`quorum digest --preview`) and the
services the digest commands use; imported when a digest command runs."""

from __future__ import annotations

import re
from html import unescape

from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from bot.cli.edge import out
from bot.messages.digest import failure_mode_text, model_text, pct, shadow_text, window
from bot.messages.result_text import shorten_words
from bot.runtime.config import QuorumConfig
from bot.runtime.services import Services, command_services
from bot.runtime.settings import Settings
from bot.schedule import calibrators
from evals.digest.sections import Digest


def digest_services(settings: Settings, config: QuorumConfig) -> Services:
    """Services for the digest: no model is called, so neither the embedder nor the
    providers' keys are needed."""
    services = command_services(settings, config, calls_models=False)
    try:
        services.db.prepare_schema()
        calibrators.use_active_calibrator(services)
    except BaseException:
        services.db.dispose()
        raise
    return services


def _say(markup: str, style: str = "") -> None:
    """A paragraph wrapped between words at the terminal's width."""
    out.print(Text.from_markup(markup, style=style))


def _plain(mrkdwn: str) -> str:
    """One of :mod:`bot.messages.digest`' mrkdwn lines as rich markup."""
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
        if cal.chance_ece is not None:
            _say(f"Chance alone reaches an ECE of {cal.chance_ece:.2f} one week in ten.")
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
