"""Regenerate the calibrator shipped with the package (evals/data/calibrator.json).

    .venv/bin/python -m bench.fit_default_calibrator [LABELLED.jsonl ...] [-o OUT.json]

Fits on the dev panels of both kinds (TruthfulQA, and the ordinary NQ, TriviaQA, GSM8K
and MMLU-Pro panels) with the real embedder, prints the held-out (question-grouped
cross-validated) quality overall and per source, and writes the JSON with its provenance.
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

from bot.cli.offline import per_source_table
from evals.consensus.calibrator_fit import fit_from_labelled_files
from evals.embedding.sentence_embedder import SentenceTransformerEmbedder

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
DEFAULT_DATA = [DATA / "consensus_dev.jsonl", DATA / "normalqa_dev.jsonl"]
DEFAULT_OUT = ROOT / "evals" / "data" / "calibrator.json"
#: How the result message names the data behind the shipped numbers.
DATA_LABEL = "public QA benchmarks (TruthfulQA, NQ, TriviaQA, GSM8K, MMLU-Pro)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("data", nargs="*", type=Path, default=DEFAULT_DATA)
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    console = Console()
    embedder = SentenceTransformerEmbedder(cache_size=0)
    with console.status("Embedding the panels and fitting (minutes on 2 cores) ..."):
        report = fit_from_labelled_files(args.data, embedder, data_label=DATA_LABEL)
    calibrator, metrics = report.calibrator, report.metrics
    calibrator.save(args.out)

    table = Table(title=f"Calibrator {calibrator.id} (held-out, 5-fold grouped by question)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("panels", str(metrics.panels))
    table.add_row("pick accuracy", f"{metrics.pick_accuracy:.3f}")
    table.add_row("random pick", f"{metrics.random_pick_accuracy:.3f}")
    table.add_row("oracle", f"{metrics.oracle_accuracy:.3f}")
    table.add_row("AUROC", "n/a" if metrics.auroc is None else f"{metrics.auroc:.3f}")
    table.add_row("ECE", f"{metrics.ece:.3f}")
    table.add_row("Brier", f"{metrics.brier:.3f}")
    console.print(table)
    console.print(per_source_table(report.per_source))

    coef = Table(title="Fitted weights (standardised features)")
    coef.add_column("model")
    coef.add_column("feature")
    coef.add_column("weight", justify="right")
    for label, model in (
        ("answer", calibrator.answer_model),
        ("confidence", calibrator.confidence_model),
    ):
        for name, value in zip(model.features, model.coef, strict=True):
            coef.add_row(label, name, f"{value:+.3f}")
        coef.add_row(label, "(intercept)", f"{model.intercept:+.3f}")
    console.print(coef)
    console.print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
