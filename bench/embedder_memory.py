"""Peak resident memory of a process with the embedder loaded (target: <= 700 MB).

    .venv/bin/python -m bench.embedder_memory

Each stage runs in a fresh child process, so the numbers do not mix: a bare Python
with Quorum's domain imported, then the embedder loaded, then a 5 x 300-word
consensus on top (what the bot holds after its first /compare).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from rich.console import Console
from rich.table import Table

CHILD = r"""
import json, os, resource, sys
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
stage = sys.argv[1]
import evals.consensus.decision, evals.consensus.calibrator
if stage in ("loaded", "consensus"):
    from evals.embedding.sentence_embedder import SentenceTransformerEmbedder
    embedder = SentenceTransformerEmbedder()
    embedder.load()
    embedder.embed(["warm up"])
if stage == "consensus":
    from evals.consensus.calibrator import default_calibrator
    from evals.consensus.decision import build_consensus
    from evals.records import ModelAnswer
    words = ("the bridge opened in spring and the river rose while people watched "
             "from the old city walls because the weather changed early that year ").split()
    answers = [
        ModelAnswer(member=f"m{i}", model="m", text=" ".join(
            words[(i + k) % len(words)] for k in range(300)) + ".")
        for i in range(5)
    ]
    build_consensus(answers, embedder, default_calibrator())
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with open("/proc/self/status") as f:
    now_kb = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
print(json.dumps({"peak_mb": peak_kb / 1024, "now_mb": now_kb / 1024}))
"""

STAGES = {
    "imported": "Python + Quorum domain imported",
    "loaded": "+ embedder loaded (all-MiniLM-L6-v2)",
    "consensus": "+ one 5 x 300-word consensus",
}


def main() -> None:
    console = Console()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    table = Table(title="Resident memory per process (target: peak <= 700 MB)")
    table.add_column("stage")
    table.add_column("RSS now MB", justify="right")
    table.add_column("peak RSS MB", justify="right")
    for stage, label in STAGES.items():
        out = subprocess.run(
            [sys.executable, "-c", CHILD, stage],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        )
        data = json.loads(out.stdout.strip().splitlines()[-1])
        table.add_row(label, f"{data['now_mb']:.0f}", f"{data['peak_mb']:.0f}")
    console.print(table)


if __name__ == "__main__":
    main()
