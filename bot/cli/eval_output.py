"""What `quorum eval ...` shows: the progress bar, the outcome table, the exit code and
the run listing. Imported when an eval command runs, not to register it."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence

from rich import box
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session

from bot.benchmark.plan import RunPlan
from bot.benchmark.service import BenchmarkService
from bot.cli.common import Exit, err, out
from evals import money
from evals.cases import short_version
from evals.errors import InputError
from evals.report import EvalReport, RunStatus, find_regressions, summarize
from evals.report_render import fmt_usd, to_json_summary, total_cost_text
from evals.runner import Progress as RunProgress
from storage import eval_repo
from storage.eval_repo import EvalRunInfo

INCOMPLETE = 3  # exit code: partial or invalid run


async def run_with_bar(
    service: BenchmarkService, plan: RunPlan, workers: int, *, show: bool
) -> EvalReport:
    """The run, with a progress bar on stderr (none with ``show=False``)."""
    bar = Progress(
        TextColumn("[bold]eval[/bold]"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("ETA {task.fields[eta]}"),
        TextColumn("{task.fields[cost]}"),
        TextColumn("{task.fields[errors]} errors"),
        console=err,
        disable=not show,
        transient=False,
    )
    task = bar.add_task("eval", total=plan.total, eta="–", cost="$0", errors=0)

    def on_progress(p: RunProgress) -> None:
        eta = "–" if p.eta_s is None else f"{int(p.eta_s // 60)}:{int(p.eta_s % 60):02d}"
        bar.update(task, completed=p.done, eta=eta, cost=money.usd(p.cost_usd), errors=p.errors)

    def on_notice(text: str) -> None:  # above the bar, also with --json (stdout stays JSON)
        bar.console.print(f"[yellow]{escape(text)}[/yellow]")

    with bar:
        return await service.run(
            plan, on_progress=on_progress, workers=workers, on_notice=on_notice
        )


def print_outcome(report: EvalReport, previous: EvalReport | None, as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(to_json_summary(report, previous)))
        return
    k = report.record.samples
    table = Table(title=f"Eval run {report.run_id}: {report.status.value}", box=box.SIMPLE_HEAD)
    table.add_column("Model", overflow="fold")
    for head in ("Pass", "95% CI", f"pass@{k}", f"pass^{k}", "Errors", "Cost", "p50", "p95"):
        table.add_column(head, no_wrap=True)
    for s in summarize(report):
        rate = s.pass_rate
        table.add_row(
            escape(s.model) + ("" if s.valid else " [red](invalid)[/red]"),
            "–" if rate.rate is None else f"{rate.rate:.0%} ({rate.passed}/{rate.n})",
            "–" if rate.n == 0 else f"{rate.low:.0%}–{rate.high:.0%}",
            "–" if s.pass_at_k is None else f"{s.pass_at_k:.0%}",
            "–" if s.pass_hat_k is None else f"{s.pass_hat_k:.0%}",
            str(s.errors),
            fmt_usd(s.cost_usd),
            "–" if s.latency_p50_ms is None else f"{s.latency_p50_ms / 1000:.1f}s",
            "–" if s.latency_p95_ms is None else f"{s.latency_p95_ms / 1000:.1f}s",
        )
    out.print(table)
    summary = to_json_summary(report, previous)
    for c in summary["comparisons"]:
        out.print(f"{escape(c['a'])} vs {escape(c['b'])}: {escape(c['verdict'])}", highlight=False)
    if previous is not None:
        regs = find_regressions(previous, report)
        out.print(f"Regressions vs run {previous.run_id}: {len(regs)}", highlight=False)
        for r in regs:
            out.print(f"  {escape(r.case_id)} · {escape(r.model)}: {escape(r.question)}")
    if report.status is not RunStatus.COMPLETE:
        out.print(f"[yellow]{report.status.value.upper()}:[/yellow] {escape(report.status_reason)}")
    if report.status is RunStatus.PARTIAL:
        out.print(f"Finish it with: quorum eval run --resume {report.run_id} --max-cost USD")
    out.print(
        f"Total cost {total_cost_text(report)}. Full report: "
        f"quorum eval report {report.run_id} --format html -o eval-{report.run_id}.html",
        highlight=False,
    )


def exit_code(
    report: EvalReport, previous: EvalReport | None, threshold: float | None, on_regression: bool
) -> int:
    gate_failed = False
    if threshold is not None:
        for s in summarize(report):
            if s.pass_rate.rate is None or s.pass_rate.rate < threshold:
                err.print(
                    f"[red]{escape(s.model)} passes "
                    f"{'nothing' if s.pass_rate.rate is None else f'{s.pass_rate.rate:.0%}'}, "
                    f"under --fail-under {threshold:.0%}[/red]"
                )
                gate_failed = True
    if on_regression and previous is not None and find_regressions(previous, report):
        err.print("[red]Cases regressed since the previous run (--fail-on-regression).[/red]")
        gate_failed = True
    if report.status in (RunStatus.PARTIAL, RunStatus.INVALID, RunStatus.RUNNING):
        return INCOMPLETE
    return Exit.FAILED if gate_failed else Exit.OK


def run_id_of(session: Session, value: str) -> int:
    if value == "latest":
        runs = eval_repo.list_runs(session, limit=1)
        if not runs:
            raise InputError("There are no eval runs yet. Start one with `quorum eval run`.")
        return runs[0].id
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{value!r} is not a run id (a number, or `latest`).") from None


#: The columns of `quorum eval list`, and which are right-aligned (numbers).
_RUN_HEADS = ("run", "started (UTC)", "set", "dataset", "status", "samples", "cost")
_RIGHT = frozenset({0, 5, 6})


def runs_listing(runs: Sequence[EvalRunInfo], width: int = 80) -> list[Text]:
    """Eval runs for a terminal ``width`` columns wide (80 fits): one line of short
    fields per run (about 73 characters, aligned), its models on the lines under it,
    wrapped between names (a name is never cut)."""
    rows = [
        (
            str(r.id),
            f"{r.started_at:%Y-%m-%d %H:%M}",
            r.case_set,
            short_version(r.dataset_version),
            r.status.value,
            f"{r.samples_done}/{r.sample_total}",
            money.usd(r.total_cost_usd),
        )
        for r in runs
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(_RUN_HEADS)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in _RIGHT else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    indent = " " * (widths[0] + 2)
    lines = [Text("Eval runs, latest first", style="bold"), Text(""), Text(line(_RUN_HEADS))]
    lines[-1].stylize("bold")
    for run, row in zip(runs, rows, strict=True):
        lines.append(Text(line(row)))
        models = textwrap.wrap(
            "models: " + (", ".join(run.models) or "none"),
            width=max(width - len(indent), 20),
            break_long_words=False,
            break_on_hyphens=False,
        )
        lines += [Text(indent + part, style="dim") for part in models]
    return lines
