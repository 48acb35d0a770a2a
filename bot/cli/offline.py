"""Offline commands over recorded answers: `quorum consensus` and `quorum calibrate`."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bot.cli.edge import Exit, edge, err, load_settings, out
from bot.cli.root import app
from evals.consensus.recorded_panels import consensus_record, parse_recorded_line
from evals.errors import InputError
from evals.jsonl import jsonl_lines
from evals.user_files import check_writable, read_text, write_text

if TYPE_CHECKING:
    from evals.consensus.calibrator import Calibrator
    from evals.consensus.quality_metrics import PanelOutcome, QualityMetrics
    from evals.records import Consensus

# The calibrator, the consensus and the embedder (numpy, scikit-learn, torch) are
# imported when a command runs, not to register it (fast `quorum --help`).


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
    from evals.consensus.decision import build_consensus
    from evals.consensus.quality_metrics import summarise
    from evals.embedding.chunking import embed_chunks
    from evals.embedding.sentence_embedder import SentenceTransformerEmbedder

    settings = load_settings()
    calibrator = _calibrator(calibrator_path, settings.quorum_calibrator)
    lines = _read_lines(infile)
    if output is not None:
        check_writable(output)
    embedder = SentenceTransformerEmbedder(settings.quorum_embedding_model)
    embedder.load()

    outcomes: list[PanelOutcome] = []
    bad = 0
    panels = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            panels.append((line, *parse_recorded_line(line)))
        except InputError as exc:
            bad += 1
            err.print(f"[red]line {number}:[/red] {exc.user_message}", highlight=False)
    # Every answer's chunks in large batches first: much faster than panel by panel.
    with _progress("embedding") as advance:
        vectors = embed_chunks(
            embedder, (a.text for _, _, _, answers in panels for a in answers if a.ok), advance
        )
    written: list[str] = []
    for line, record_id, question, answers in panels:
        result = build_consensus(
            answers, embedder, calibrator, quorum=quorum, question=question, vectors=vectors
        )
        record = json.dumps(consensus_record(record_id, result), ensure_ascii=False) + "\n"
        if output is None:
            sys.stdout.write(record)  # streamed: a pipe sees each line at once
        else:
            written.append(record)
        outcome = _labelled_outcome(line, result)
        if outcome is not None:
            outcomes.append(outcome)
    if output is not None:
        write_text(output, "".join(written))

    processed = len(panels)
    err.print(f"{processed} panel(s) scored with calibrator {calibrator.id}; {bad} bad line(s).")
    if outcomes:
        note = _in_sample_note(calibrator, infile)
        err.print(metrics_table(summarise(outcomes), title=f"Quality on {infile.name}{note}"))
    if bad:
        raise typer.Exit(Exit.FAILED)


@app.command()
@edge
def calibrate(
    labelled: Annotated[
        list[Path], typer.Argument(help="JSONL files of panels with `correct` labels.")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write it.")] = Path(
        "calibrator.json"
    ),
    folds: Annotated[int, typer.Option(help="Cross-validation folds (grouped by question).")] = 5,
    label: Annotated[
        str | None,
        typer.Option(help="How the result message names this data (default: the file names)."),
    ] = None,
) -> None:
    """Fit the calibrator (member records, answer and confidence models) on labelled panels.

    Prints the held-out (cross-validated) quality, overall and per source (a
    line's `source` field, else its file). Use it with `consensus.calibrator` in
    quorum.yaml or QUORUM_CALIBRATOR.
    """
    from evals.consensus.calibrator_fit import fit_from_labelled_files
    from evals.embedding.sentence_embedder import SentenceTransformerEmbedder

    if folds < 2:
        raise InputError("--folds must be at least 2")
    for path in labelled:
        read_text(path)  # every file readable as UTF-8 before minutes of embedding
    check_writable(output)
    settings = load_settings()
    embedder = SentenceTransformerEmbedder(settings.quorum_embedding_model, cache_size=0)
    with _progress("embedding") as advance:
        report = fit_from_labelled_files(
            labelled, embedder, folds=folds, data_label=label, progress=advance
        )
    calibrator, metrics = report.calibrator, report.metrics
    calibrator.save(output)
    out.print(metrics_table(metrics, title=f"Held-out quality ({folds}-fold, by question)"))
    if len(report.per_source) > 1:
        out.print(per_source_table(report.per_source))
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


def per_source_table(per_source: Mapping[str, QualityMetrics]) -> Table:
    table = Table(title="Held-out quality per source")
    for column in ("source", "panels", "pick", "random", "oracle", "AUROC", "ECE"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for source, m in per_source.items():
        table.add_row(
            source,
            str(m.panels),
            f"{m.pick_accuracy:.3f}",
            f"{m.random_pick_accuracy:.3f}",
            f"{m.oracle_accuracy:.3f}",
            "—" if m.auroc is None else f"{m.auroc:.3f}",
            f"{m.ece:.3f}",
        )
    return table


def _calibrator(option: Path | None, from_env: Path | None) -> Calibrator:
    path = option or from_env
    from evals.consensus.calibrator import default_calibrator, load_calibrator

    return load_calibrator(path) if path else default_calibrator()


def _read_lines(infile: Path) -> list[str]:
    return jsonl_lines(read_text(infile))


@contextmanager
def _progress(what: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr (terminals only) fed with ``(done, total)``."""
    progress = Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("chunks"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with progress:
        task = progress.add_task(what, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


def _labelled_outcome(line: str, result: Consensus) -> PanelOutcome | None:
    from evals.consensus.quality_metrics import PanelOutcome

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
    data = calibrator.provenance.get("data")
    trained_on = (
        {d.get("sha256") for d in data if isinstance(d, dict)} if isinstance(data, list) else set()
    )
    legacy = calibrator.provenance.get("data_sha256")
    if isinstance(legacy, str):
        trained_on.add(legacy)
    if str(infile) == "-" or not trained_on:
        return ""
    if hashlib.sha256(infile.read_bytes()).hexdigest() in trained_on:
        return " (in-sample: the calibrator was fitted on this file; see `quorum calibrate` for held-out numbers)"
    return ""
