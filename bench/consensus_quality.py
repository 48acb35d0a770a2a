"""Consensus quality on the labelled dev panels, estimated on held-out questions.

    .venv/bin/python -m bench.consensus_quality [LABELLED.jsonl] [--folds 5]

Every number comes from question-grouped cross-validation (GroupKFold by question
text: a question's two panels never straddle a split): the calibrator is refitted
on the other folds' questions and scored on the held-out fold's panels. Prints pick
accuracy vs a random pick and the oracle, AUROC of the confidence for "the pick is
right", expected calibration error, Brier, the reliability table, and ablations
(agreement features only vs answer content only vs both).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rich.console import Console
from rich.table import Table

from evals.agreement import ANSWER_FEATURES
from evals.calibration import (
    DEFAULT_FOLDS,
    LabelledPanel,
    cross_validate,
    fit_calibrator,
    read_labelled_panels,
)
from evals.calibration_metrics import QualityMetrics
from evals.embedder import SentenceTransformerEmbedder

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "consensus_dev.jsonl"

AGREEMENT_ONLY = ("support", "cluster_share")
CONTENT_ONLY = tuple(f for f in ANSWER_FEATURES if f not in AGREEMENT_ONLY)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _check(ok: bool) -> str:
    return "[green]met[/green]" if ok else "[red]missed[/red]"


def _cv(panels: list[LabelledPanel], folds: int, features: tuple[str, ...]) -> QualityMetrics:
    return cross_validate(
        panels,
        folds=folds,
        fit=lambda train: fit_calibrator(train, folds=folds, answer_features=features),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Consensus quality on labelled panels.")
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS)
    args = parser.parse_args()
    console = Console()
    embedder = SentenceTransformerEmbedder()
    with console.status("Loading the embedder and analysing the panels ..."):
        panels = read_labelled_panels(args.data, embedder)
    questions = len({p.group for p in panels})
    console.print(
        f"{args.data.name}: {len(panels)} panels, {questions} questions, "
        f"{sum(p.analysis.size for p in panels)} answers; "
        f"{args.folds}-fold cross-validation grouped by question."
    )
    with console.status("Cross-validating ..."):
        main_metrics = _cv(panels, args.folds, ANSWER_FEATURES)
        ablations = {
            "agreement only (support, cluster share)": _cv(panels, args.folds, AGREEMENT_ONLY),
            "answer content only (negation, hedging, length, echo)": _cv(
                panels, args.folds, CONTENT_ONLY
            ),
            "all answer features (shipped)": main_metrics,
        }

    m = main_metrics
    table = Table(title="Held-out consensus quality (cross-validated by question)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    table.add_column("", justify="center")
    table.add_row("pick accuracy", _fmt(m.pick_accuracy), "≥ random + 0.10", "")
    table.add_row("random pick", _fmt(m.random_pick_accuracy), "", "")
    table.add_row("oracle pick", _fmt(m.oracle_accuracy), "", "")
    table.add_row(
        "lift over random",
        f"{m.lift_over_random:+.3f}",
        "≥ +0.100",
        _check(m.lift_over_random >= 0.10),
    )
    table.add_row(
        "AUROC (confidence vs pick right)",
        _fmt(m.auroc),
        "≥ 0.650",
        _check(m.auroc is not None and m.auroc >= 0.65),
    )
    table.add_row("ECE (10 bins)", _fmt(m.ece), "≤ 0.080", _check(m.ece <= 0.08))
    table.add_row("Brier", _fmt(m.brier), "", "")
    table.add_row("mean confidence", _fmt(m.mean_confidence), "", "")
    console.print(table)

    rel = Table(title="Reliability (held-out picks)")
    for col in ("confidence bin", "panels", "mean confidence", "share right"):
        rel.add_column(col, justify="right")
    for b in m.reliability:
        if b.count:
            rel.add_row(
                f"{b.low:.1f}–{b.high:.1f}",
                str(b.count),
                f"{b.mean_confidence:.3f}",
                f"{b.accuracy:.3f}",
            )
    console.print(rel)

    abl = Table(title="Ablations (same cross-validation)")
    for col in ("answer model features", "pick accuracy", "lift", "AUROC", "ECE"):
        abl.add_column(col, justify="right" if col != "answer model features" else "left")
    for name, metrics in ablations.items():
        abl.add_row(
            name,
            _fmt(metrics.pick_accuracy),
            f"{metrics.lift_over_random:+.3f}",
            _fmt(metrics.auroc),
            _fmt(metrics.ece),
        )
    console.print(abl)


if __name__ == "__main__":
    main()
