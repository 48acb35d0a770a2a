"""`quorum consensus` on a file against a plain batched MiniLM encode, side by side.

    .venv/bin/python -m bench.consensus_file_speed [LABELLED.jsonl ...] [--limit N]

Both columns see the same answer texts of the dev panels (default: both dev files,
all panels; --limit keeps the first N panels of each file for a quicker run):

- plain encode: the embedder's own encoder (for the bundled all-MiniLM-L6-v2, the
  torch-only :mod:`evals.embedding.bert_encoder`, the same vectors as
  sentence-transformers) on every answer text, whole, in batches of 64 (the model
  silently cuts each at 256 word pieces);
- quorum consensus: what the command does: chunk every answer (nothing is cut),
  embed all chunks in large batches (``evals.embedding.chunking.embed_chunks``), then build each
  panel's consensus from those vectors with the shipped calibrator.

Target: quorum consensus takes at most 1.5x the plain encode. The model is loaded
before either clock starts, and each run starts with an empty cache.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rich.console import Console
from rich.table import Table

from evals.consensus.calibrator import default_calibrator
from evals.consensus.decision import build_consensus
from evals.consensus.recorded_panels import RecordId, parse_recorded_line
from evals.embedding.chunking import embed_chunks
from evals.embedding.sentence_embedder import SentenceTransformerEmbedder
from evals.jsonl import jsonl_lines
from evals.records import ModelAnswer

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
DEFAULT_FILES = [DATA / "consensus_dev.jsonl", DATA / "normalqa_dev.jsonl"]
TARGET = 1.5


def main() -> None:
    parser = argparse.ArgumentParser(description="consensus on a file vs a plain encode")
    parser.add_argument("data", nargs="*", type=Path, default=DEFAULT_FILES)
    parser.add_argument("--limit", type=int, default=0, help="first N panels of each file")
    args = parser.parse_args()
    console = Console()
    panels: list[tuple[RecordId, str, list[ModelAnswer]]] = []
    for path in args.data:
        lines = [ln for ln in jsonl_lines(path.read_text(encoding="utf-8")) if ln.strip()]
        panels.extend(parse_recorded_line(ln) for ln in lines[: args.limit or None])
    texts = [a.text for _, _, answers in panels for a in answers if a.ok]
    console.print(f"{len(panels)} panels, {len(texts)} answer texts")

    plain = SentenceTransformerEmbedder(cache_size=0)
    plain.load()
    model = plain._encoder()  # the raw encoder, for the plain baseline only
    start = time.perf_counter()
    model.encode(texts, 64)  # the encoder behind the embedder: unit vectors, whole texts
    plain_s = time.perf_counter() - start

    embedder = SentenceTransformerEmbedder(cache_size=0)
    embedder.load()
    calibrator = default_calibrator()
    start = time.perf_counter()
    vectors = embed_chunks(embedder, texts)
    embedded_s = time.perf_counter() - start
    for _, question, answers in panels:
        build_consensus(answers, embedder, calibrator, question=question, vectors=vectors)
    quorum_s = time.perf_counter() - start

    table = Table(title="Consensus over a file vs a plain batched encode")
    for col in ("path", "seconds", "answers/s", "vs plain"):
        table.add_column(col, justify="left" if col == "path" else "right")
    table.add_row("plain MiniLM encode", f"{plain_s:.1f}", f"{len(texts) / plain_s:.0f}", "1.00x")
    table.add_row(
        f"quorum consensus: embed {len(vectors)} chunks",
        f"{embedded_s:.1f}",
        "",
        f"{embedded_s / plain_s:.2f}x",
    )
    ratio = quorum_s / plain_s
    verdict = "[green]met[/green]" if ratio <= TARGET else "[red]missed[/red]"
    table.add_row(
        "quorum consensus: all, with the consensus",
        f"{quorum_s:.1f}",
        f"{len(texts) / quorum_s:.0f}",
        f"{ratio:.2f}x (target ≤ {TARGET}x: {verdict})",
    )
    console.print(table)
    console.print(json.dumps({"plain_s": plain_s, "quorum_s": quorum_s, "ratio": ratio}))


if __name__ == "__main__":
    main()
