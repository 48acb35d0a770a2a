"""What `quorum eval ...` shows: the progress bar, the outcome table, the exit code and
the run listing. Imported when an eval command runs, not to register it."""

from __future__ import annotations

import io
import json
import textwrap
from collections.abc import Callable, Sequence

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session

from bot.cli.edge import Exit, err, out
from bot.eval_runs.plan import RunPlan
from bot.eval_runs.service import EvalRunService
from bot.runtime.services import Services
from evals import money
from evals.cases.sets import short_version
from evals.errors import InputError
from evals.runs.report import EvalReport, RunStatus, find_regressions, summarize
from evals.runs.report_render import fmt_usd, to_json_summary, total_cost_text
from evals.runs.runner import Progress as RunProgress
from evals.runs.runner import ProgressCallback
from storage import eval_repo
from storage.eval_repo import EvalRunInfo

INCOMPLETE = 3  # exit code: partial or invalid run

Notice = Callable[[str], None]


def _progress_bar(total: int, *, show: bool) -> tuple[Progress, ProgressCallback, Notice]:
    """The run's progress bar on stderr (hidden with ``show=False``), what updates it, and
    what prints a notice above it (also with --json: stdout stays JSON)."""
    bar = Progress(
        TextColumn("[bold]eval[/bold]"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("ETA {task.fields[eta]}"),
        TextColumn("{task.fields[cost]}"),
        TextColumn("{task.fields[errors]} errors"),
        TextColumn("{task.fields[limits]}"),
        console=err,
        disable=not show,
        transient=False,
    )
    task = bar.add_task("eval", total=total, eta="–", cost="$0", errors=0, limits="")

    def on_progress(p: RunProgress) -> None:
        eta = "–" if p.eta_s is None else f"{int(p.eta_s // 60)}:{int(p.eta_s % 60):02d}"
        bar.update(
            task,
            completed=p.done,
            eta=eta,
            cost=money.usd(p.cost_usd),
            errors=p.errors,
            limits=escape(limits_text(p)),
        )

    def on_notice(text: str) -> None:
        bar.console.print(f"[yellow]{escape(text)}[/yellow]")

    return bar, on_progress, on_notice


def limits_text(progress: RunProgress) -> str:
    """What rate limits cost so far, per model: ``rate limited: alpha 12× 34s, beta 3× 2s``
    (empty while no request was refused or waited)."""
    parts = [
        f"{model} {wait.throttled}× {wait.waited_s:.0f}s"
        for model, wait in progress.limits.items()
        if wait.throttled or wait.waited_s >= 0.5
    ]
    return "rate limited: " + ", ".join(parts) if parts else ""


async def run_with_bar(
    service: EvalRunService, plan: RunPlan, workers: int, *, show: bool
) -> EvalReport:
    """The run, in this process (or its ``workers``), with a progress bar."""
    bar, on_progress, on_notice = _progress_bar(plan.total, show=show)
    with bar:
        return await service.run(
            plan, on_progress=on_progress, workers=workers, on_notice=on_notice
        )


async def queue_with_bar(services: Services, url: str, plan: RunPlan, *, show: bool) -> EvalReport:
    """The run queued for `quorum worker` processes, followed here with a progress bar."""
    # Lazy: procrastinate takes ~0.2 s to import; only --queue needs it.
    from bot.eval_runs.task_queue import enqueue_run, watch_run

    queued = await enqueue_run(services, url, plan)
    err.print(
        f"Queued in {len(queued.job_ids)} jobs for `quorum worker` processes; following the "
        "run here (Ctrl-C withdraws the jobs no worker has started).",
        highlight=False,
    )
    bar, on_progress, on_notice = _progress_bar(plan.total, show=show)
    with bar:
        return await watch_run(
            services, url, plan, queued, on_progress=on_progress, on_notice=on_notice
        )


def print_outcome(
    report: EvalReport, previous: EvalReport | None, as_json: bool, *, queued: bool = False
) -> None:
    if as_json:
        out.print_json(json.dumps(to_json_summary(report, previous)))
        return
    _print_models(report)
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
        how = "--queue" if queued else "--max-cost USD" if report.record.max_cost_usd else ""
        out.print(f"Finish it with: quorum eval run --resume {report.run_id} {how}".rstrip())
    out.print(
        f"Total cost {total_cost_text(report)}. Full report: "
        f"quorum eval report {report.run_id} --format html -o eval-{report.run_id}.html",
        highlight=False,
    )


def _print_models(report: EvalReport) -> None:
    """Per model: a table where it fits the terminal, else a line each (never a table
    whose columns rich has squeezed to nothing)."""
    k = report.record.samples
    heads = ("Model", "Pass", "95% CI", f"pass@{k}", f"pass^{k}", "Errors", "Cost", "p50", "p95")
    rows = []
    for s in summarize(report):
        rate = s.pass_rate
        rows.append(
            (
                s.model + ("" if s.valid else " (invalid)"),
                "–" if rate.rate is None else f"{rate.rate:.0%} ({rate.passed}/{rate.n})",
                "–" if rate.n == 0 else f"{rate.low:.0%}–{rate.high:.0%}",
                "–" if s.pass_at_k is None else f"{s.pass_at_k:.0%}",
                "–" if s.pass_hat_k is None else f"{s.pass_hat_k:.0%}",
                str(s.errors),
                fmt_usd(s.cost_usd),
                "–" if s.latency_p50_ms is None else f"{s.latency_p50_ms / 1000:.1f}s",
                "–" if s.latency_p95_ms is None else f"{s.latency_p95_ms / 1000:.1f}s",
            )
        )
    title = f"Eval run {report.run_id}: {report.status.value}"
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0))
    for head in heads:
        table.add_column(head, no_wrap=True)
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    if _natural_width(table) <= out.width:
        table.title = title
        out.print(table)
        return
    out.print(title, highlight=False)
    for row in rows:
        details = ", ".join(f"{head} {cell}" for head, cell in zip(heads[1:], row[1:], strict=True))
        out.print(f"  {escape(row[0])}: {escape(details)}", highlight=False)


def _natural_width(table: Table) -> int:
    """How wide ``table`` is when nothing squeezes it."""
    sink = io.StringIO()
    Console(width=10_000, file=sink, color_system=None).print(table)
    return max(len(line.rstrip()) for line in sink.getvalue().splitlines())


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


def run_id_of(session: Session, value: str, *, workspace: str) -> int:
    if value == "latest":
        runs = eval_repo.list_runs(session, workspace=workspace, limit=1)
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
