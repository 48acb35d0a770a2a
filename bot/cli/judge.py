"""`quorum judge calibrate`: how often the LLM judge agrees with people's labels."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from bot.cli.edge import Exit, edge, err, load_settings_and_config, out
from bot.cli.root import app
from bot.cli.workspace_option import WorkspaceOption, resolve_workspace
from evals.errors import ConfigError, InputError
from evals.jsonl import jsonl_lines
from evals.user_files import read_text

if TYPE_CHECKING:
    from evals.scorers.judge import LabelledAnswer

judge_app = typer.Typer(help="Check the LLM judge against people's labels.", no_args_is_help=True)
app.add_typer(judge_app, name="judge")


def load_labelled(path: Path) -> list[LabelledAnswer]:
    from evals.scorers.judge import LabelledAnswer

    items: list[LabelledAnswer] = []
    for number, line in enumerate(jsonl_lines(read_text(path)), start=1):
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
    workspace: WorkspaceOption = None,
) -> None:
    """How often the judge agrees with people (raw agreement and Cohen's κ)."""
    # Imported here, not to register the command (fast `quorum --help`).
    from bot.cli.eval.commands import cli_client, database
    from bot.eval_runs.members import build_judge
    from evals.scorers.judge import calibrate
    from storage import labels_repo

    settings, config = load_settings_and_config()
    if labelled is not None:
        items = load_labelled(labelled)
        where = str(labelled)
    else:
        with database(settings.database_url) as db, db.session() as s:
            ws = resolve_workspace(db, settings, workspace)
            items = labels_repo.labelled_answers(s, workspace=ws)
        where = "production thumbs and corrections"
    if not items:
        raise InputError(
            f"No labelled answers in {where}. Pass a JSONL file of "
            '{"question": ..., "answer": ..., "label": "pass"|"fail"} lines.'
        )
    client = cli_client()
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
