"""Consensus time for 3/5/8 answers x 50/300/1500 words, after the model is loaded.

    .venv/bin/python -m bench.consensus_speed [--repeats 5]

"cold": every answer is new text (nothing in the embedding cache), so all of its
chunks go through the model in one batch inside build_consensus.
"warm": each answer was embedded when it arrived (evals.consensus.decision.prepare_answer,
as the panel streams answers), so build_consensus finds every vector in the cache.
Medians over the repeats; the target is 5 answers x 300 words <= 150 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from rich.console import Console
from rich.table import Table

from evals.consensus.calibrator import default_calibrator
from evals.consensus.decision import build_consensus, prepare_answer
from evals.embedding.chunking import chunk_text
from evals.embedding.sentence_embedder import SentenceTransformerEmbedder
from evals.records import ModelAnswer

VOCAB = [
    "the",
    "model",
    "answer",
    "bridge",
    "river",
    "city",
    "history",
    "water",
    "energy",
    "policy",
    "data",
    "system",
    "people",
    "market",
    "science",
    "light",
    "study",
    "result",
    "evidence",
    "year",
    "number",
    "report",
    "early",
    "late",
    "small",
    "large",
    "because",
    "however",
    "often",
    "rarely",
    "always",
    "never",
    "which",
    "where",
    "when",
    "while",
    "after",
    "before",
    "during",
    "grows",
    "falls",
    "opens",
    "closes",
    "explains",
    "shows",
    "suggests",
    "measures",
    "changes",
    "keeps",
    "builds",
]


def answer_text(rng: random.Random, words: int) -> str:
    sentences: list[str] = []
    count = 0
    while count < words:
        n = min(rng.randint(8, 20), words - count)
        sentence = " ".join(rng.choice(VOCAB) for _ in range(n))
        sentences.append(sentence.capitalize() + ".")
        count += n
    return " ".join(sentences)


def panel(rng: random.Random, answers: int, words: int) -> list[ModelAnswer]:
    return [
        ModelAnswer(member=f"m{i}", model=f"m{i}", text=answer_text(rng, words))
        for i in range(answers)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="Consensus speed benchmark.")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = parser.parse_args()
    console = Console()
    embedder = SentenceTransformerEmbedder(threads=args.threads)
    t0 = time.perf_counter()
    embedder.load()
    load_s = time.perf_counter() - t0
    calibrator = default_calibrator()
    rng = random.Random(20261123)
    build_consensus(panel(rng, 3, 50), embedder, calibrator)  # warm-up

    table = Table(
        title=f"Consensus time, median of {args.repeats} (torch threads: "
        f"{torch.get_num_threads()}, model load {load_s:.1f} s)"
    )
    for col in ("answers", "words each", "chunks", "cold ms", "warm ms"):
        table.add_column(col, justify="right")
    for answers in (3, 5, 8):
        for words in (50, 300, 1500):
            cold: list[float] = []
            warm: list[float] = []
            for _ in range(args.repeats):
                fresh = panel(rng, answers, words)
                start = time.perf_counter()
                result = build_consensus(fresh, embedder, calibrator)
                cold.append((time.perf_counter() - start) * 1000)
                streamed = panel(rng, answers, words)
                for a in streamed:
                    prepare_answer(a.text, embedder)
                start = time.perf_counter()
                build_consensus(streamed, embedder, calibrator)
                warm.append((time.perf_counter() - start) * 1000)
                assert result.status.value == "ok"
            chunks = sum(len(chunk_text(a.text, embedder)) for a in fresh)
            mark = " ◀ target ≤ 150" if (answers, words) == (5, 300) else ""
            table.add_row(
                str(answers),
                str(words),
                str(chunks),
                f"{statistics.median(cold):.0f}",
                f"{statistics.median(warm):.0f}{mark}",
            )
    console.print(table)
    console.print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
