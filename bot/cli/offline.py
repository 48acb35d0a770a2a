"""Offline commands over recorded answers: `quorum consensus` and `quorum calibrate`."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bot.cli import app
from bot.cli.common import Exit, edge, err, load_settings, out
from evals.calibration import (
    Calibrator,
    default_calibrator,
    fit_from_labelled_jsonl,
    load_calibrator,
)
from evals.calibration_metrics import PanelOutcome, QualityMetrics, summarise
from evals.consensus import build_consensus
from evals.embedder import SentenceTransformerEmbedder
from evals.errors import InputError
from evals.recorded import consensus_record, parse_recorded_line
from evals.types import Consensus


@app.command()
@edge
def consensus(
    infile: Annotated[Path, typer.Argument(help="JSONL of recorded panels ('-' for stdin).")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write JSONL here (default stdout).")
    ] = None,
    calibrator_path: Annotated[
        Path | None, typer.Option("--calibrator", help="Calibrator JSON (default: shipped).")
    ] = None,
    quorum: Annotated[int, typer.Option(help="Usable answers needed for a consensus.")] = 2,
) -> None:
    """Score recorded answers offline: one consensus line per input line.

    A bad line is reported with its line number and skipped; the rest are still
    processed (exit code 1 if any line was bad). When the answers carry `correct`
    labels, the pick accuracy, AUROC and calibration error are printed at the end.
    """
    settings = load_settings()
    calibrator = _calibrator(calibrator_path, settings.quorum_calibrator)
    lines = _read_lines(infile)
    embedder = SentenceTransformerEmbedder(settings.quorum_embedding_model)
    embedder.load()

    outcomes: list[PanelOutcome] = []
    bad = 0
    with _open_output(output) as sink, _progress(len(lines)) as advance:
        for number, line in enumerate(lines, start=1):
            advance()
            if not line.strip():
                continue
            try:
                record_id, question, answers = parse_recorded_line(line)
            except InputError as exc:
                bad += 1
                err.print(f"[red]line {number}:[/red] {exc.user_message}", highlight=False)
                continue
            result = build_consensus(
                answers, embedder, calibrator, quorum=quorum, question=question
            )
            sink.write(json.dumps(consensus_record(record_id, result), ensure_ascii=False) + "\n")
            outcome = _labelled_outcome(line, result)
            if outcome is not None:
                outcomes.append(outcome)

    processed = len([ln for ln in lines if ln.strip()]) - bad
    err.print(f"{processed} panel(s) scored with calibrator {calibrator.id}; {bad} bad line(s).")
    if outcomes:
        note = _in_sample_note(calibrator, infile)
        err.print(metrics_table(summarise(outcomes), title=f"Quality on {infile.name}{note}"))
    if bad:
        raise typer.Exit(Exit.FAILED)


@app.command()
@edge
def calibrate(
    labelled: Annotated[Path, typer.Argument(help="JSONL of panels with `correct` labels.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write it.")] = Path(
        "calibrator.json"
    ),
    folds: Annotated[int, typer.Option(help="Cross-validation folds (grouped by question).")] = 5,
) -> None:
    """Fit the confidence calibrator on labelled panels and write it as JSON.

    Prints the held-out (cross-validated) quality. Use it with `consensus.calibrator`
    in quorum.yaml or QUORUM_CALIBRATOR.
    """
    if not labelled.exists():
        raise InputError(f"{labelled}: no such file")
    if folds < 2:
        raise InputError("--folds must be at least 2")
    settings = load_settings()
    embedder = SentenceTransformerEmbedder(settings.quorum_embedding_model)
    with err.status("Embedding answers and fitting…"):
        calibrator, metrics = fit_from_labelled_jsonl(labelled, embedder, folds=folds)
    output.parent.mkdir(parents=True, exist_ok=True)
    calibrator.save(output)
    out.print(metrics_table(metrics, title=f"Held-out quality ({folds}-fold, by question)"))
    out.print(f"Wrote calibrator {calibrator.id} to {output}.")
    out.print(f"Use it: set `consensus.calibrator: {output}` in quorum.yaml or QUORUM_CALIBRATOR.")


def metrics_table(m: QualityMetrics, *, title: str) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("panels", str(m.panels))
    table.add_row("pick accuracy", f"{m.pick_accuracy:.3f}")
    table.add_row("random pick", f"{m.random_pick_accuracy:.3f}")
    table.add_row("oracle (any answer right)", f"{m.oracle_accuracy:.3f}")
    table.add_row("lift over random", f"{m.lift_over_random:+.3f}")
    table.add_row("AUROC (confidence vs pick right)", "—" if m.auroc is None else f"{m.auroc:.3f}")
    table.add_row("expected calibration error", f"{m.ece:.3f}")
    table.add_row("Brier score", f"{m.brier:.3f}")
    table.add_row("mean confidence", f"{m.mean_confidence:.3f}")
    return table


def _calibrator(option: Path | None, from_env: Path | None) -> Calibrator:
    path = option or from_env
    return load_calibrator(path) if path else default_calibrator()


def _read_lines(infile: Path) -> list[str]:
    if str(infile) == "-":
        return sys.stdin.read().splitlines()
    if not infile.exists():
        raise InputError(f"{infile}: no such file")
    try:
        return infile.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError(f"{infile}: not UTF-8 text") from None


@contextmanager
def _open_output(path: Path | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        yield handle


@contextmanager
def _progress(total: int) -> Iterator[Any]:
    progress = Progress(
        TextColumn("scoring"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with progress:
        task = progress.add_task("consensus", total=total)
        yield lambda: progress.advance(task)


def _labelled_outcome(line: str, result: Consensus) -> PanelOutcome | None:
    answers = json.loads(line).get("answers", [])
    raw = {a.get("model"): a.get("correct") for a in answers if isinstance(a, dict)}
    if not raw or not all(isinstance(v, bool) for v in raw.values()):
        return None
    labels = {str(k): bool(v) for k, v in raw.items()}
    return PanelOutcome(
        pick_correct=bool(result.model is not None and labels.get(result.model)),
        confidence=result.confidence,
        fraction_correct=sum(labels.values()) / len(labels),
        any_correct=any(labels.values()),
    )


def _in_sample_note(calibrator: Calibrator, infile: Path) -> str:
    trained_on = calibrator.provenance.get("data_sha256")
    if str(infile) == "-" or not trained_on:
        return ""
    if hashlib.sha256(infile.read_bytes()).hexdigest() == trained_on:
        return " (in-sample: the calibrator was fitted on this file; see `quorum calibrate` for held-out numbers)"
    return ""
