"""`quorum eval run|report|compare|list` and `quorum judge calibrate`.

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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table
from sqlalchemy.orm import Session

from bot.adapters import loaded_embedder, model_client
from bot.benchmark.models import build_judge, select_members
from bot.benchmark.record import git_commit
from bot.cli.common import Exit, edge, err, load_settings_and_config, out
from bot.cli.root import app
from bot.config import QuorumConfig
from evals.case_schema import CaseSet, EvalCase
from evals.cases import dataset_version, short_version
from evals.errors import ConfigError, InputError
from evals.grading import needs_embedder
from evals.jsonl import jsonl_lines
from evals.judge import Judge, LabelledAnswer, calibrate
from evals.ports import Embedder, ModelClient
from evals.report import EvalReport, RunRecord, RunStatus, SampleResult, find_regressions, summarize
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
from evals.runner import RunConfig, case_info, plan_record, run_eval
from evals.scorers import ScorerSettings
from evals.types import PanelMember
from storage import case_repo, eval_repo
from storage.db import Database

INCOMPLETE = 3  # exit code: partial or invalid run

eval_app = typer.Typer(
    help="Benchmark the panel and candidate models on your eval cases.", no_args_is_help=True
)
judge_app = typer.Typer(help="Check the LLM judge against people's labels.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
app.add_typer(judge_app, name="judge")


class SetChoice(StrEnum):
    GOLDEN = "golden"
    ROTATING = "rotating"
    ALL = "all"


class Format(StrEnum):
    MD = "md"
    JSON = "json"
    HTML = "html"


#: Builds the model client; tests and benchmarks may swap it.
client_factory: Callable[[], ModelClient] | None = None


def _client() -> ModelClient:
    if client_factory is not None:
        return client_factory()
    return model_client()


def _embedder() -> Embedder:
    return loaded_embedder()


@contextmanager
def _database(url: str) -> Iterator[Database]:
    database = Database(url)
    try:
        database.ensure_schema()
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
    client = _client()
    with _database(settings.database_url) as db:
        with db.session() as s:
            if resume is not None:
                plan = resume_plan(
                    s,
                    config,
                    client,
                    resume,
                    concurrency=concurrency,
                    per_model=per_model,
                    max_cost=max_cost,
                )
            else:
                plan = new_plan(
                    s,
                    config,
                    client,
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
        try:
            run_id, report = asyncio.run(execute_plan(db, plan, show_progress=not as_json))
        except KeyboardInterrupt:
            if plan.run_id is None:
                raise
            err.print(
                "Interrupted. Every finished sample is stored; finish the run with: "
                f"quorum eval run --resume {plan.run_id}"
            )
            raise typer.Exit(130) from None
        with db.session() as s:
            previous_id = eval_repo.previous_run_id(s, run_id)
            previous = eval_repo.load_report(s, previous_id) if previous_id else None
    _print_outcome(report, previous, as_json)
    raise typer.Exit(_exit_code(report, previous, threshold, fail_on_regression))


class RunPlan:
    """Everything a run needs, decided before it starts (new or resumed)."""

    def __init__(
        self,
        *,
        cases: list[EvalCase],
        members: list[PanelMember],
        client: ModelClient,
        config: RunConfig,
        judge: Judge | None,
        embedder: Embedder | None,
        record: RunRecord,
        completed: list[SampleResult],
        resumed_from: RunRecord | None = None,
        run_id: int | None = None,
    ) -> None:
        self.cases = cases
        self.members = members
        self.client = client
        self.config = config
        self.judge = judge
        self.embedder = embedder
        self.record = record
        self.completed = completed
        self.resumed_from = resumed_from
        self.run_id = run_id
        self.total = len(cases) * len(members) * config.samples


def new_plan(
    session: Session,
    config: QuorumConfig,
    client: ModelClient,
    *,
    case_set: SetChoice = SetChoice.GOLDEN,
    categories: Sequence[str] = (),
    tags: Sequence[str] = (),
    model_names: Sequence[str] = (),
    samples: int = 3,
    concurrency: int = 8,
    per_model: int | None = None,
    max_cost: float | None = None,
    use_judge: bool = True,
    embedder: Embedder | None = None,
    label: str | None = None,
) -> RunPlan:
    """Plan a new run of the active cases. Also for the scheduled benchmark: pass the
    process's loaded ``embedder`` to reuse it, and a ``label`` ("scheduled 2026-W47")
    that is kept in the run's record."""
    chosen = None if case_set is SetChoice.ALL else CaseSet(case_set.value)
    cases = case_repo.active_cases(session, chosen, categories, tags)
    if not cases:
        wanted = [*categories, *tags]
        filters = f" matching {', '.join(wanted)}" if wanted else ""
        raise InputError(
            f"No active cases in the {case_set.value} set{filters}. Approve proposed cases "
            "(`quorum cases list`, then `quorum cases approve ID`) or import some with "
            "`quorum cases import FILE`."
        )
    members = select_members(config, model_names)
    judge = build_judge(config, client, members) if use_judge else None
    scorers = ScorerSettings(expected_check="none" if judge else "similarity")
    needs_similarity = needs_embedder(cases, scorers, has_judge=judge is not None)
    run_config = RunConfig(
        samples=samples,
        concurrency=concurrency,
        per_model_concurrency=per_model,
        max_cost=max_cost,
        system_prompt=config.consensus.system_prompt,
        scorers=scorers,
        case_set=case_set.value,
        dataset_version=dataset_version(cases, chosen),
        git_commit=git_commit(),
        filters=({"category": list(categories), "tag": list(tags)} if categories or tags else {})
        | ({"label": label} if label else {}),
    )
    if needs_similarity and embedder is None:
        embedder = _embedder()
    elif not needs_similarity:
        embedder = None
    record = plan_record(
        cases, members, run_config, judge=judge, embedder=embedder, started_at=datetime.now(UTC)
    )
    return RunPlan(
        cases=cases,
        members=members,
        client=client,
        config=run_config,
        judge=judge,
        embedder=embedder,
        record=record,
        completed=[],
    )


def resume_plan(
    session: Session,
    config: QuorumConfig,
    client: ModelClient,
    run_id: int,
    *,
    concurrency: int = 8,
    per_model: int | None = None,
    max_cost: float | None = None,
) -> RunPlan:
    """Plan the rest of an interrupted or partial run: same cases, models, settings."""
    record, status, snapshot = eval_repo.load_record(session, run_id)
    if status in (RunStatus.COMPLETE, RunStatus.INVALID):
        raise InputError(
            f"Run {run_id} is {status.value}; only a running (interrupted) or partial run can "
            f"be resumed. See it with `quorum eval report {run_id}`."
        )
    cases: list[EvalCase] = []
    for info in snapshot:
        case = case_repo.get_case(session, info.id)
        if case is None:
            raise InputError(f"Case {info.id} of run {run_id} no longer exists; start a new run.")
        cases.append(case)
    chosen = None if record.case_set == SetChoice.ALL.value else CaseSet(record.case_set)
    if dataset_version(cases, chosen) != record.dataset_version:
        raise InputError(
            f"The cases of run {run_id} changed since it started (dataset version "
            f"{short_version(record.dataset_version)}); start a new run instead."
        )
    known = {m.name: m for m in config.panel_members() + config.shadow_members()}
    members: list[PanelMember] = []
    for m in record.models:
        member = known.get(m.name)
        if member is None and m.name == m.model:
            member = PanelMember(name=m.name, model=m.model)
        if member is None or member.model != m.model:
            raise ConfigError(
                f"Run {run_id} used {m.name} = {m.model}, which quorum.yaml no longer has; "
                "resuming would mix models. Start a new run."
            )
        members.append(replace(member, temperature=m.temperature, max_tokens=m.max_tokens))
    judge = None
    if record.judge_model:
        judge = build_judge(config, client, members)
        if judge is None or judge.prompt_hash != record.judge_prompt_hash:
            raise ConfigError(
                f"The judge or its rubric changed since run {run_id} started; start a new run."
            )
    scorers = ScorerSettings.from_dict(dict(record.scorer_settings))
    embedder = _embedder() if record.scorer_settings.get("similarity_embedder") else None
    run_config = RunConfig(
        samples=record.samples,
        concurrency=concurrency,
        per_model_concurrency=per_model,
        max_cost=max_cost if max_cost is not None else record.max_cost_usd,
        temperature=record.temperature,
        top_p=record.top_p,
        max_tokens=record.max_tokens,
        system_prompt=record.system_prompt,
        max_error_rate=record.max_error_rate,
        scorers=scorers,
        case_set=record.case_set,
        dataset_version=record.dataset_version,
        git_commit=git_commit(),
        filters=dict(record.filters),
    )
    return RunPlan(
        cases=cases,
        members=members,
        client=client,
        config=run_config,
        judge=judge,
        embedder=embedder,
        record=record,
        completed=eval_repo.resumable_results(session, run_id),
        resumed_from=record,
        run_id=run_id,
    )


async def execute_plan(
    db: Database, plan: RunPlan, *, show_progress: bool = False
) -> tuple[int, EvalReport]:
    """Store the run (or pick up the resumed one), run it saving each sample as it
    finishes, store the outcome. Returns the report with its run id."""
    run_id = plan.run_id
    if run_id is None:
        with db.session() as s:
            run_id = eval_repo.start_run(
                s, plan.record, [case_info(c) for c in plan.cases], sample_total=plan.total
            )
        plan.run_id = run_id
    err.print(
        f"Eval run {run_id}: {len(plan.cases)} cases × {len(plan.members)} models × "
        f"{plan.config.samples} samples ({plan.config.case_set} set, dataset "
        f"{short_version(plan.config.dataset_version)}); "
        + (f"judge {plan.judge.model}" if plan.judge else "rule scorers only"),
        highlight=False,
    )

    async def save(result: SampleResult) -> None:
        # Stored right here, with no await: cancelling the run (Ctrl-C) cannot fall
        # between an answer arriving and its row being written.
        with db.session() as s:
            eval_repo.save_result(s, run_id, result)

    bar = Progress(
        TextColumn("[bold]eval[/bold]"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("ETA {task.fields[eta]}"),
        TextColumn("{task.fields[cost]}"),
        TextColumn("{task.fields[errors]} errors"),
        console=err,
        disable=not show_progress,
        transient=False,
    )
    task = bar.add_task("eval", total=plan.total, eta="–", cost="$0.0000", errors=0)

    def on_progress(p: RunProgress) -> None:
        eta = "–" if p.eta_s is None else f"{int(p.eta_s // 60)}:{int(p.eta_s % 60):02d}"
        bar.update(task, completed=p.done, eta=eta, cost=f"${p.cost_usd:.4f}", errors=p.errors)

    with bar:
        report = await run_eval(
            plan.cases,
            plan.members,
            plan.client,
            plan.config,
            judge=plan.judge,
            embedder=plan.embedder,
            completed=plan.completed,
            on_result=save,
            on_progress=on_progress,
            resumed_from=plan.resumed_from,
        )
    report = report.with_run_id(run_id)
    with db.session() as s:
        eval_repo.finish_run(s, run_id, report)
    return run_id, report


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
    settings, _ = load_settings_and_config()
    with _database(settings.database_url) as db, db.session() as s:
        run_id = _run_id(s, run)
        report = eval_repo.load_report(s, run_id)
        previous_id = eval_repo.previous_run_id(s, run_id)
        previous = eval_repo.load_report(s, previous_id) if previous_id else None
    render = {Format.MD: to_markdown, Format.JSON: to_json, Format.HTML: to_html}[fmt]
    text = render(report, previous)
    if output is None:
        typer.echo(text)
        return
    output.write_text(text, encoding="utf-8")
    err.print(f"Wrote {output}", highlight=False)


@eval_app.command("compare")
@edge
def compare_cmd(
    run_a: Annotated[str, typer.Argument(help="The earlier run (id or `latest`).")],
    run_b: Annotated[str, typer.Argument(help="The later run.")],
) -> None:
    """Run B against run A: per-model change with a paired test, regressions, what changed."""
    settings, _ = load_settings_and_config()
    with _database(settings.database_url) as db, db.session() as s:
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
    with _database(settings.database_url) as db, db.session() as s:
        runs = eval_repo.list_runs(s, limit=limit)
    table = Table(title="Eval runs")
    for head in ("Run", "Status", "Set", "Dataset", "Started (UTC)", "Samples", "Cost", "Models"):
        table.add_column(head)
    for r in runs:
        table.add_row(
            str(r.id),
            r.status.value,
            r.case_set,
            short_version(r.dataset_version),
            r.started_at.strftime("%Y-%m-%d %H:%M"),
            f"{r.samples_done}/{r.sample_total}",
            f"${r.total_cost_usd:.4f}",
            escape(", ".join(r.models)),
        )
    out.print(table)


# ---------------------------------------------------------------- judge calibration


def load_labelled(path: Path) -> list[LabelledAnswer]:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    items: list[LabelledAnswer] = []
    for number, line in enumerate(jsonl_lines(path.read_text(encoding="utf-8")), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        items.append(LabelledAnswer.from_json(data, f"{path}:{number}"))
    return items


@judge_app.command("calibrate")
@edge
def calibrate_cmd(
    labelled: Annotated[
        Path | None,
        typer.Argument(help="JSONL of {question, answer, label}; default: production labels."),
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1)] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """How often the judge agrees with people (raw agreement and Cohen's κ)."""
    settings, config = load_settings_and_config()
    if labelled is not None:
        items = load_labelled(labelled)
        where = str(labelled)
    else:
        with _database(settings.database_url) as db, db.session() as s:
            items = eval_repo.production_labels(s)
        where = "production thumbs and corrections"
    if not items:
        raise InputError(
            f"No labelled answers in {where}. Pass a JSONL file of "
            '{"question": ..., "answer": ..., "label": "pass"|"fail"} lines.'
        )
    client = _client()
    judge = build_judge(config, client, [])
    if judge is None:
        raise ConfigError("No judge configured: add a `judge:` section to quorum.yaml.")
    result = asyncio.run(calibrate(judge, items, concurrency=concurrency))
    a = result.agreement
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "labels": a.n,
                    "agreement": a.agreement,
                    "kappa": a.kappa,
                    "judge_errors": result.errors,
                    "warnings": a.warnings,
                    "source": where,
                    "judge_model": judge.model,
                    "judge_prompt_hash": judge.prompt_hash,
                    "rubric_version": judge.rubric_version,
                }
            )
        )
    else:
        out.print(f"Judge {judge.model} (rubric {judge.rubric_version}) on {where}:")
        kappa = "undefined" if a.kappa is None else f"{a.kappa:.2f}"
        out.print(
            f"  {a.n} labels · agreement {a.agreement:.0%} · Cohen's κ {kappa}", highlight=False
        )
        both = [(h.passed, j) for h, j in result.pairs]
        out.print(
            f"  judge pass & people pass: {both.count((True, True))} · judge pass & people fail: {both.count((False, True))} · "
            f"judge fail & people pass: {both.count((True, False))} · judge fail & people fail: {both.count((False, False))}",
            highlight=False,
        )
        if result.errors:
            out.print(f"  [yellow]{result.errors} answers got no verdict (judge errors)[/yellow]")
        for warning in a.warnings:
            err.print(f"[yellow]Warning:[/yellow] {escape(warning)}")
    if a.n == 0:
        raise typer.Exit(Exit.FAILED)
