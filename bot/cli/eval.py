"""`quorum eval run|report|compare|list`.

Models: the panel and the shadow candidates from quorum.yaml, or exactly the ones named
with ``--models`` (a panel/shadow ``model_name`` or a litellm model string such as
``openai/gpt-4o-mini``). Scoring: each case's rule checks; with a judge configured (and no
``--no-judge``) the judge grades every answer against the expected answer; without a
judge the expected answer is checked by embedding similarity.

Exit codes of ``quorum eval run`` (for CI):

==== =====================================================================================
0    the run completed and every gate passed
1    a gate failed: a model's pass rate is under ``--fail-under``, or a case regressed
     against the previous run on the same dataset version with ``--fail-on-regression``
2    configuration, usage or input problem (no cases, unknown model, ...); nothing ran
3    the run is incomplete: stopped at ``--max-cost`` (partial, resume it) or invalid
     (more errored samples than the error policy allows)
70   internal error (the message carries a reference id); 130 interrupted (resume it)
==== =====================================================================================
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session

from bot.adapters import DeferredModelClient
from bot.benchmark.plan import BenchmarkRequest, RunPlan, SetChoice
from bot.benchmark.processes import ITEMS_PER_WORKER, default_workers
from bot.benchmark.service import BenchmarkService
from bot.cli.common import Exit, edge, err, load_settings_and_config, out
from bot.cli.root import app
from bot.services import command_services
from evals import money
from evals.cases import short_version
from evals.errors import InputError
from evals.inputs import write_text
from evals.ports import ModelClient
from evals.report import EvalReport, RunStatus, find_regressions, summarize
from evals.report_html import to_html
from evals.report_render import (
    compare_reports,
    comparison_markdown,
    fmt_usd,
    to_json,
    to_json_summary,
    to_markdown,
    total_cost_text,
)
from evals.runner import Progress as RunProgress
from storage import eval_repo
from storage.db import Database
from storage.eval_repo import EvalRunInfo

INCOMPLETE = 3  # exit code: partial or invalid run

eval_app = typer.Typer(
    help="Benchmark the panel and candidate models on your eval cases.", no_args_is_help=True
)
app.add_typer(eval_app, name="eval")


class Format(StrEnum):
    MD = "md"
    JSON = "json"
    HTML = "html"


#: Builds the model client; tests and benchmarks may swap it.
client_factory: Callable[[], ModelClient] | None = None


def cli_client() -> ModelClient:
    if client_factory is not None:
        return client_factory()
    return DeferredModelClient()


@contextmanager
def database(url: str) -> Iterator[Database]:
    database = Database(url)
    try:
        database.prepare_schema()
        yield database
    finally:
        database.dispose()


# ---------------------------------------------------------------- eval run


def _rate(value: str | None) -> float | None:
    if value is None:
        return None
    text = value.strip()
    try:
        rate = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise InputError(f"--fail-under: {value!r} is not a rate (e.g. 0.8 or 80%)") from None
    if not 0 <= rate <= 1:
        raise InputError("--fail-under must be between 0 and 1 (or 0% and 100%)")
    return rate


def _split(values: Sequence[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


@eval_app.command("run")
@edge
def run_cmd(
    case_set: Annotated[
        SetChoice, typer.Option("--set", help="Which active cases: golden, rotating or all.")
    ] = SetChoice.GOLDEN,
    category: Annotated[
        list[str], typer.Option("--category", help="Only these categories (repeatable).")
    ] = [],  # noqa: B006
    tag: Annotated[
        list[str], typer.Option("--tag", help="Only cases with any of these tags (repeatable).")
    ] = [],  # noqa: B006
    models: Annotated[
        str | None,
        typer.Option("--models", help="Comma-separated models (default: panel + shadow)."),
    ] = None,
    samples: Annotated[int, typer.Option("--samples", min=1, help="Samples per case.")] = 3,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Calls at once.")] = 8,
    per_model: Annotated[
        int | None, typer.Option("--per-model", min=1, help="Calls at once per model.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Processes asking the models (default: one per core, at most one per "
            f"{ITEMS_PER_WORKER} samples).",
        ),
    ] = None,
    max_cost: Annotated[
        float | None, typer.Option("--max-cost", help="Budget in USD; stops cleanly at it.")
    ] = None,
    resume: Annotated[
        int | None, typer.Option("--resume", help="Finish an interrupted or partial run.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
    no_judge: Annotated[bool, typer.Option("--no-judge", help="Rule scorers only.")] = False,
    fail_under: Annotated[
        str | None, typer.Option("--fail-under", help="Exit 1 if a model passes less (0.8).")
    ] = None,
    fail_on_regression: Annotated[
        bool, typer.Option("--fail-on-regression", help="Exit 1 if a case regressed.")
    ] = False,
) -> None:
    """Run the eval cases × models × samples, store the run and print what it found."""
    threshold = _rate(fail_under)
    if max_cost is not None and max_cost <= 0:
        raise InputError("--max-cost must be a positive amount in USD")
    settings, config = load_settings_and_config()
    services = command_services(settings, config, client=cli_client())
    try:
        services.db.prepare_schema()
        service = BenchmarkService(services)
        if resume is not None:
            plan = service.resume(
                resume, concurrency=concurrency, per_model=per_model, max_cost=max_cost
            )
        else:
            plan = service.plan(
                BenchmarkRequest(
                    case_set=case_set,
                    categories=_split(category),
                    tags=_split(tag),
                    model_names=_split([models] if models else []),
                    samples=samples,
                    concurrency=concurrency,
                    per_model=per_model,
                    max_cost=max_cost,
                    use_judge=not no_judge,
                )
            )
        run_id = service.start(plan)
        if workers is None:
            workers = default_workers(len(plan.pending_items()))
        err.print(f"Eval run {run_id}: {plan.describe()}", highlight=False)
        try:
            report = asyncio.run(_run_with_bar(service, plan, workers, show=not as_json))
        except KeyboardInterrupt:
            err.print(
                "Interrupted. Every finished sample is stored; finish the run with: "
                f"quorum eval run --resume {run_id}"
            )
            raise typer.Exit(130) from None
        with services.db.session() as s:
            previous_id = eval_repo.previous_run_id(s, run_id)
            previous = eval_repo.load_report(s, previous_id) if previous_id else None
    finally:
        services.close()
    _print_outcome(report, previous, as_json)
    raise typer.Exit(_exit_code(report, previous, threshold, fail_on_regression))


async def _run_with_bar(
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

    with bar:
        return await service.run(plan, on_progress=on_progress, workers=workers)


def _print_outcome(report: EvalReport, previous: EvalReport | None, as_json: bool) -> None:
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


def _exit_code(
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


# ---------------------------------------------------------------- report, compare, list


def _run_id(session: Session, value: str) -> int:
    if value == "latest":
        runs = eval_repo.list_runs(session, limit=1)
        if not runs:
            raise InputError("There are no eval runs yet. Start one with `quorum eval run`.")
        return runs[0].id
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{value!r} is not a run id (a number, or `latest`).") from None


@eval_app.command("report")
@edge
def report_cmd(
    run: Annotated[str, typer.Argument(help="Run id, or `latest`.")],
    fmt: Annotated[Format, typer.Option("--format", help="md, json or html.")] = Format.MD,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to a file.")] = None,
) -> None:
    """Render a stored run, with regressions against the previous run on the same data."""
    settings, config = load_settings_and_config()
    with database(settings.database_url) as db, db.session() as s:
        run_id = _run_id(s, run)
        report = eval_repo.load_report(s, run_id)
        previous_id = eval_repo.previous_run_id(s, run_id)
        previous = eval_repo.load_report(s, previous_id) if previous_id else None
    if fmt is Format.HTML:
        text = to_html(report, previous, shadow={m.model_name for m in config.shadow})
    else:
        text = {Format.MD: to_markdown, Format.JSON: to_json}[fmt](report, previous)
    if output is None:
        typer.echo(text)
        return
    write_text(output, text)
    err.print(f"Wrote {output}", highlight=False)


@eval_app.command("compare")
@edge
def compare_cmd(
    run_a: Annotated[str, typer.Argument(help="The earlier run (id or `latest`).")],
    run_b: Annotated[str, typer.Argument(help="The later run.")],
) -> None:
    """Run B against run A: per-model change with a paired test, regressions, what changed."""
    settings, _ = load_settings_and_config()
    with database(settings.database_url) as db, db.session() as s:
        a = eval_repo.load_report(s, _run_id(s, run_a))
        b = eval_repo.load_report(s, _run_id(s, run_b))
    typer.echo(comparison_markdown(compare_reports(a, b)))


@eval_app.command("list")
@edge
def list_cmd(
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs.")] = 20,
) -> None:
    """The most recent eval runs."""
    settings, _ = load_settings_and_config()
    with database(settings.database_url) as db, db.session() as s:
        runs = eval_repo.list_runs(s, limit=limit)
    if not runs:
        out.print("No eval runs yet: start one with `quorum eval run`.", highlight=False)
        return
    for line in runs_listing(runs, out.width):
        out.print(line)


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
