"""`quorum eval run|report|compare|list`.

Models: the panel and the shadow candidates from quorum.yaml, or exactly the ones named
with ``--models`` (a panel/shadow ``model_name`` or a litellm model string such as
``openai/gpt-4o-mini``). Scoring: each case's rule checks; with a judge configured (and no
``--no-judge``) the judge grades every answer against the expected answer; without a
judge the expected answer is checked by embedding similarity.

Where: in this process, or ``--workers`` processes of this machine; with ``--queue``, in
`quorum worker` processes on any machine, the run followed here from what they store.

Exit codes of ``quorum eval run`` (for CI):

==== =====================================================================================
0    the run completed and every gate passed
1    a gate failed: a model's pass rate is under ``--fail-under``, or a case regressed
     against the previous run on the same dataset version with ``--fail-on-regression``
2    configuration, usage or input problem (no cases, unknown model, ...); nothing ran
3    the run is incomplete: stopped at ``--max-cost`` or, queued, its jobs ended early
     (partial, resume it), or invalid (more errored samples than the error policy allows)
70   internal error (the message carries a reference id); 130 interrupted (resume it)
==== =====================================================================================
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.edge import edge, err, load_settings_and_config, out
from bot.cli.eval.head_start import WorkerOptions, split_names, start_workers
from bot.cli.root import app
from bot.cli.workspace_option import WorkspaceOption, resolve_workspace
from bot.eval_runs.options import (
    DEFAULT_DEADLINE,
    ITEMS_PER_WORKER,
    SetChoice,
    parse_duration,
)
from bot.runtime.gc_pause import start_up
from evals.errors import ConfigError, InputError
from evals.user_files import write_text

if TYPE_CHECKING:
    from bot.runtime.settings import Settings
    from evals.protocols import ModelClient
    from storage.db import Database

# The benchmark, the reports and storage are imported when a command runs
# (bot.cli.eval.output and below), not to register it (fast `quorum --help`).

eval_app = typer.Typer(
    help="Benchmark the panel and candidate models on your eval cases.", no_args_is_help=True
)
app.add_typer(eval_app, name="eval")


#: ``--concurrency``'s default.
DEFAULT_CONCURRENCY = 8


class Format(StrEnum):
    MD = "md"
    JSON = "json"
    HTML = "html"


#: Builds the model client; tests and benchmarks may swap it.
client_factory: Callable[[], ModelClient] | None = None


def cli_client() -> ModelClient:
    if client_factory is not None:
        return client_factory()
    from bot.runtime.adapters import ProviderClient

    return ProviderClient()


@contextmanager
def database(url: str) -> Iterator[Database]:
    from storage.db import Database

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
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, help="Calls at once (default 8).")
    ] = None,
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
    queue: Annotated[
        bool,
        typer.Option(
            "--queue",
            help="Queue the run for `quorum worker` processes on any machine and follow it "
            "here (needs QUORUM_TASK_QUEUE and a PostgreSQL DATABASE_URL).",
        ),
    ] = False,
    max_cost: Annotated[
        float | None, typer.Option("--max-cost", help="Budget in USD; stops cleanly at it.")
    ] = None,
    resume: Annotated[
        int | None, typer.Option("--resume", help="Finish an interrupted or partial run.")
    ] = None,
    deadline: Annotated[
        str | None,
        typer.Option(
            "--deadline",
            help="How long the run may wait on providers' rate limits (default 6h; e.g. "
            "90m): a sample still refused then is a deadline error, one not started is left "
            "for --resume.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
    no_judge: Annotated[bool, typer.Option("--no-judge", help="Rule scorers only.")] = False,
    fail_under: Annotated[
        str | None, typer.Option("--fail-under", help="Exit 1 if a model passes less (0.8).")
    ] = None,
    fail_on_regression: Annotated[
        bool, typer.Option("--fail-on-regression", help="Exit 1 if a case regressed.")
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Run the eval cases × models × samples, store the run and print what it found."""
    threshold = _rate(fail_under)
    if max_cost is not None and max_cost <= 0:
        raise InputError("--max-cost must be a positive amount in USD")
    patience = parse_duration(deadline) if deadline is not None else DEFAULT_DEADLINE
    model_names = split_names([models] if models else [])
    # Long-lived from here to the plan: see bot.runtime.gc_pause.
    with start_up():
        settings, config = load_settings_and_config()
        options = WorkerOptions(queue, workers, tuple(model_names), use_judge=not no_judge)
        start_workers(config, options)
        from bot.cli.eval.output import exit_code, print_outcome, queue_with_bar, run_with_bar
        from bot.eval_runs.plan import EvalRunRequest
        from bot.eval_runs.service import EvalRunService
        from bot.eval_runs.worker_processes import default_workers
        from bot.runtime.services import command_services
        from storage import eval_repo

        queue_url = (
            _queue_url(
                settings,
                workers=workers,
                concurrency=concurrency,
                per_model=per_model,
                max_cost=max_cost,
            )
            if queue
            else None
        )
        concurrency = concurrency or DEFAULT_CONCURRENCY
        services = command_services(settings, config, client=cli_client())
    try:
        with start_up():
            services.db.prepare_schema()
            owner = resolve_workspace(services.db, settings, workspace)
            service = EvalRunService(services)
            if resume is not None:
                plan = service.resume(
                    resume,
                    workspace=owner,
                    concurrency=concurrency,
                    per_model=per_model,
                    max_cost=max_cost,
                    deadline=patience,
                )
            else:
                plan = service.plan(
                    EvalRunRequest(
                        workspace=owner,
                        case_set=case_set,
                        categories=split_names(category),
                        tags=split_names(tag),
                        model_names=model_names,
                        samples=samples,
                        concurrency=concurrency,
                        per_model=per_model,
                        max_cost=max_cost,
                        use_judge=not no_judge,
                        deadline=patience,
                    )
                )
            run_id = service.start(plan)
        err.print(f"Eval run {run_id}: {plan.describe()}", highlight=False)
        try:
            if queue_url is not None:
                report = asyncio.run(queue_with_bar(services, queue_url, plan, show=not as_json))
            else:
                if workers is None:
                    workers = default_workers(len(plan.pending_items()))
                report = asyncio.run(run_with_bar(service, plan, workers, show=not as_json))
        except KeyboardInterrupt:
            err.print(
                "Interrupted. Every finished sample is stored; finish the run with: "
                f"quorum eval run --resume {run_id}" + (" --queue" if queue else "")
            )
            raise typer.Exit(130) from None
        with services.db.session() as s:
            previous_id = eval_repo.previous_run_id(s, run_id, workspace=owner)
            previous = (
                eval_repo.load_report(s, previous_id, workspace=owner) if previous_id else None
            )
    finally:
        services.close()
    print_outcome(report, previous, as_json, queued=queue)
    raise typer.Exit(exit_code(report, previous, threshold, fail_on_regression))


def _queue_url(
    settings: Settings,
    *,
    workers: int | None,
    concurrency: int | None,
    per_model: int | None,
    max_cost: float | None,
) -> str:
    """``QUORUM_TASK_QUEUE`` for ``--queue``, once the other options allow it."""
    from storage.db import normalize_url

    if workers is not None:
        raise InputError(
            "--workers and --queue don't go together: with --queue, `quorum worker` "
            "processes ask the models (start as many as you like, on any machine)."
        )
    if concurrency is not None or per_model is not None:
        raise InputError(
            "With --queue each `quorum worker` decides how many calls it makes at once "
            "(its own --concurrency); drop --concurrency/--per-model here."
        )
    if max_cost is not None:
        raise InputError(
            "--max-cost needs the run in one place, which keeps its ledger: run it without "
            "--queue (use --workers for every core of this machine)."
        )
    if not settings.quorum_task_queue:
        raise ConfigError(
            "--queue needs QUORUM_TASK_QUEUE: the PostgreSQL database `quorum worker` "
            "processes take jobs from (usually the same as DATABASE_URL)."
        )
    if normalize_url(settings.database_url).get_backend_name() != "postgresql":
        raise ConfigError(
            "--queue needs DATABASE_URL on PostgreSQL: workers on other machines store "
            "their results there, which they cannot do in this machine's SQLite file."
        )
    return settings.quorum_task_queue


# ---------------------------------------------------------------- report, compare, list


@eval_app.command("report")
@edge
def report_cmd(
    run: Annotated[str, typer.Argument(help="Run id, or `latest`.")],
    fmt: Annotated[Format, typer.Option("--format", help="md, json or html.")] = Format.MD,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to a file.")] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Render a stored run, with regressions against the previous run on the same data."""
    from bot.cli.eval.output import run_id_of
    from evals.runs.report_html import to_html
    from evals.runs.report_render import to_json, to_markdown
    from storage import eval_repo

    settings, config = load_settings_and_config()
    with database(settings.database_url) as db, db.session() as s:
        ws = resolve_workspace(db, settings, workspace)
        run_id = run_id_of(s, run, workspace=ws)
        report = eval_repo.load_report(s, run_id, workspace=ws)
        previous_id = eval_repo.previous_run_id(s, run_id, workspace=ws)
        previous = eval_repo.load_report(s, previous_id, workspace=ws) if previous_id else None
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
    workspace: WorkspaceOption = None,
) -> None:
    """Run B against run A: per-model change with a paired test, regressions, what changed."""
    from bot.cli.eval.output import run_id_of
    from evals.runs.report_render import compare_reports, comparison_markdown
    from storage import eval_repo

    settings, _ = load_settings_and_config()
    with database(settings.database_url) as db, db.session() as s:
        ws = resolve_workspace(db, settings, workspace)
        a = eval_repo.load_report(s, run_id_of(s, run_a, workspace=ws), workspace=ws)
        b = eval_repo.load_report(s, run_id_of(s, run_b, workspace=ws), workspace=ws)
    typer.echo(comparison_markdown(compare_reports(a, b)))


@eval_app.command("list")
@edge
def list_cmd(
    limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs.")] = 20,
    workspace: WorkspaceOption = None,
) -> None:
    """The most recent eval runs."""
    from bot.cli.eval.output import runs_listing
    from storage import eval_repo

    settings, _ = load_settings_and_config()
    with database(settings.database_url) as db, db.session() as s:
        ws = resolve_workspace(db, settings, workspace)
        runs = eval_repo.list_runs(s, workspace=ws, limit=limit)
    if not runs:
        out.print("No eval runs yet: start one with `quorum eval run`.", highlight=False)
        return
    for line in runs_listing(runs, out.width):
        out.print(line)
