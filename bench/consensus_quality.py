"""Consensus quality per source on the labelled dev panels, held out by question.

    .venv/bin/python -m bench.consensus_quality [LABELLED.jsonl ...] [--folds 5] [--repeats 5]

Default data: ../shared/data/consensus_dev.jsonl (TruthfulQA, adversarial) and
../shared/data/normalqa_dev.jsonl (NQ, TriviaQA, GSM8K, MMLU-Pro). Every Quorum
number comes from question-grouped cross-validation: the calibrator (member records,
answer model, confidence model) is refitted on the other folds' questions and scored on
the held-out fold. The whole cross-validation is repeated (``--repeats``, 5 by default)
with the questions shuffled into folds anew each time: Quorum's numbers are the mean
over the repeats, with their range. Beside it, per source:

- random: the expected accuracy of picking one answer at random;
- medoid: the answer with the highest mean (chunked MiniLM) similarity to the others;
- final-answer vote: the most common extracted final answer (number, year, letter,
  yes/no), ties to the first member by name; the medoid where nothing is extracted;
- best single model: the best member's accuracy on that source, chosen in hindsight;
- oracle: some answer in the panel is right.

Then AUROC and ECE of Quorum's confidence; the ECE by chance (what a perfectly calibrated
confidence would show on the same panels: a bin's share right is a sample, so ECE has a
floor that grows as the panels get fewer); and the share of same-answer pairs (both
labelled right) that the clustering split apart. Sources are never a feature: they
come from the panels' ids only for this report.

Last, the label audit (``--audit``, by default bench/data/nq_label_audit.jsonl): panels
whose gold answer a reader found wrong or narrower than what the panel said, each with
the members judged right and why. The same held-out confidences are scored against the
audited labels beside the dataset's own, so a reader sees how much of a source's AUROC
is lost to its labels. The audit never reaches the fit: every other number is on the
labels as published.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from evals.consensus.calibrator_fit import (
    DEFAULT_FOLDS,
    LabelledPanel,
    held_out_decisions,
    read_labelled_panels,
)
from evals.consensus.quality_metrics import PanelOutcome, chance_ece, summarise
from evals.embedding.sentence_embedder import SentenceTransformerEmbedder
from evals.jsonl import jsonl_lines

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
DEFAULT_FILES = (DATA / "consensus_dev.jsonl", DATA / "normalqa_dev.jsonl")
DEFAULT_AUDIT = ROOT / "bench" / "data" / "nq_label_audit.jsonl"
#: Repeated cross-validation: one split's AUROC and ECE move by about ±0.01 with which
#: questions happen to share a fold (TruthfulQA's ECE by more).
DEFAULT_REPEATS = 5

#: Rows of the report: the sources, then the ordinary four together, then all.
_ORDER = ("NQ", "TriviaQA", "GSM8K", "MMLU-Pro", "TruthfulQA", "ordinary", "all")

# Short names for the report, from the id prefixes the dev files use.
_PREFIXES = (
    ("evouna-nq", "NQ"),
    ("evouna-tqa", "TriviaQA"),
    ("gsm8k", "GSM8K"),
    ("mmlupro", "MMLU-Pro"),
)


def source_name(panel_id: str, fallback: str) -> str:
    for prefix, name in _PREFIXES:
        if panel_id.startswith(prefix):
            return name
    return "TruthfulQA" if "truthful" in fallback.lower() else fallback


def _ids(path: Path) -> list[str]:
    lines = jsonl_lines(path.read_text(encoding="utf-8"))
    return [str(json.loads(line).get("id", "")) for line in lines if line.strip()]


class AuditError(Exception):
    """A label audit file that cannot be read; the message says where and why."""


def read_label_audit(path: Path) -> dict[str, frozenset[str]]:
    """Panel id -> the members whose answers the audit judges right (JSONL lines with
    ``id`` and a non-empty ``right`` list of member names; other fields are notes)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AuditError(f"Cannot read the label audit {path}: {exc.strerror or exc}.") from exc
    audit: dict[str, frozenset[str]] = {}
    for number, line in enumerate(jsonl_lines(text), 1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AuditError(f"{where} is not JSON ({exc.msg}).") from exc
        panel_id = record.get("id") if isinstance(record, dict) else None
        right = record.get("right") if isinstance(record, dict) else None
        if not isinstance(panel_id, str) or not panel_id:
            raise AuditError(f'{where} needs an "id": the panel\'s id in the data file.')
        if (
            not isinstance(right, list)
            or not right
            or not all(isinstance(m, str) and m for m in right)
        ):
            raise AuditError(f'{where} needs "right": a list of the member names judged right.')
        if panel_id in audit:
            raise AuditError(f"{where} audits {panel_id!r} a second time.")
        audit[panel_id] = frozenset(right)
    return audit


def audited(panel: LabelledPanel, right: frozenset[str]) -> LabelledPanel:
    """``panel`` with the members in ``right`` judged right (the rest as labelled)."""
    unknown = sorted(right - set(panel.analysis.members))
    if unknown:
        raise AuditError(
            f"The label audit names {', '.join(unknown)}, not a member of the panel for "
            f"{panel.group!r}."
        )
    return replace(panel, correct={**panel.correct, **dict.fromkeys(right, True)})


def _medoid(panel: LabelledPanel) -> int:
    an = panel.analysis
    candidates = [i for i in range(an.size) if an.informative[i]] or list(range(an.size))
    if len(candidates) == 1:
        return candidates[0]
    sims = an.similarity if an.similarity is not None else an.agreement
    return max(candidates, key=lambda i: (float(np.mean([sims[i, j] for j in candidates])), -i))


def _vote(panel: LabelledPanel) -> int:
    an = panel.analysis
    values = [(i, f.value) for i, f in enumerate(an.finals) if f is not None]
    if not values:
        return _medoid(panel)
    counts = Counter(v for _, v in values)
    top = max(counts.values())
    return next(i for i, v in values if counts[v] == top)


def _baseline(panels: Sequence[LabelledPanel], choose: object) -> float:
    picks = [choose(p) for p in panels]  # type: ignore[operator]
    right = [
        p.correct.get(p.analysis.members[i], False) for p, i in zip(panels, picks, strict=True)
    ]
    return float(np.mean(right))


def _best_single(panels: Sequence[LabelledPanel]) -> float:
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for p in panels:
        for member, right in p.correct.items():
            tally[member][0] += int(right)
            tally[member][1] += 1
    return max(r / n for r, n in tally.values())


def _split_rate(panels: Sequence[LabelledPanel]) -> float:
    split = pairs = 0
    for p in panels:
        an = p.analysis
        right = [i for i, m in enumerate(an.members) if p.correct.get(m)]
        for a in range(len(right)):
            for b in range(a + 1, len(right)):
                pairs += 1
                split += an.cluster_of[right[a]] != an.cluster_of[right[b]]
    return split / pairs if pairs else 0.0


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _spread(values: Sequence[float | None]) -> str:
    """Mean over the repeats, with their range when there are several."""
    known = [v for v in values if v is not None]
    if not known:
        return "—"
    mean = f"{float(np.mean(known)):.3f}"
    return mean if len(known) == 1 else f"{mean} ({min(known):.3f}–{max(known):.3f})"


def _row(
    name: str, panels: Sequence[LabelledPanel], repeats: Sequence[Sequence[PanelOutcome]]
) -> tuple[str, ...]:
    metrics = [summarise(outcomes) for outcomes in repeats]
    return (
        name,
        str(len(panels)),
        _spread([m.pick_accuracy for m in metrics]),
        _fmt(metrics[0].random_pick_accuracy),
        _fmt(_baseline(panels, _medoid)),
        _fmt(_baseline(panels, _vote)),
        _fmt(_best_single(panels)) if name not in ("all", "ordinary") else "",
        _fmt(metrics[0].oracle_accuracy),
        _spread([m.auroc for m in metrics]),
        _spread([m.ece for m in metrics]),
        _fmt(float(np.mean([chance_ece([o.confidence for o in r]) for r in repeats]))),
        f"{_split_rate(panels):.1%}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Consensus quality per source, held out.")
    parser.add_argument("data", nargs="*", type=Path, default=list(DEFAULT_FILES))
    parser.add_argument("--folds", type=int, default=DEFAULT_FOLDS)
    parser.add_argument(
        "--repeats",
        type=int,
        default=DEFAULT_REPEATS,
        help="cross-validate this many times, the questions shuffled into folds anew each "
        "time (1: one split, balanced by size)",
    )
    parser.add_argument(
        "--audit",
        type=Path,
        default=DEFAULT_AUDIT,
        help="label audit (JSONL: id, right = members judged right) scored beside the "
        "published labels",
    )
    args = parser.parse_args()
    console = Console()
    try:
        audit = read_label_audit(args.audit)
    except AuditError as exc:
        console.print(str(exc), style="red", markup=False)
        raise SystemExit(2) from exc
    embedder = SentenceTransformerEmbedder(cache_size=0)
    panels: list[LabelledPanel] = []
    ids: list[str] = []
    with Progress(console=console, transient=True) as progress:
        for path in args.data:
            task = progress.add_task(f"embedding {path.name}", total=None)
            read = read_labelled_panels(
                path,
                embedder,
                lambda done, total, t=task: progress.update(t, completed=done, total=total),
            )
            for panel, panel_id in zip(read, _ids(path), strict=True):
                ids.append(panel_id)
                panels.append(
                    LabelledPanel(
                        panel.group,
                        panel.analysis,
                        panel.correct,
                        source_name(panel_id, panel.source),
                    )
                )
    try:
        judged = [
            audited(p, audit[i]) if i in audit else p for p, i in zip(panels, ids, strict=True)
        ]
    except AuditError as exc:
        console.print(str(exc), style="red", markup=False)
        raise SystemExit(2) from exc
    seeds: list[int | None] = [None] if args.repeats <= 1 else list(range(args.repeats))
    runs: list[list[PanelOutcome]] = []
    audited_runs: list[list[PanelOutcome]] = []
    for n, seed in enumerate(seeds, 1):
        with console.status(
            f"Cross-validating ({args.folds} folds, grouped by question), {n} of {len(seeds)} ..."
        ):
            decisions = held_out_decisions(panels, folds=args.folds, seed=seed)
        runs.append([p.outcome(d) for p, d in zip(panels, decisions, strict=True)])
        audited_runs.append([p.outcome(d) for p, d in zip(judged, decisions, strict=True)])

    by: dict[str, list[int]] = defaultdict(list)
    for index, panel in enumerate(panels):
        by[panel.source].append(index)
        if panel.source != "TruthfulQA":
            by["ordinary"].append(index)
        by["all"].append(index)

    repeated = f"{len(seeds)} times, the questions shuffled anew" if len(seeds) > 1 else "once"
    table = Table(
        title=f"Consensus quality, held out by question ({args.folds}-fold, {repeated}), "
        "per source",
        caption="Quorum, AUROC, ECE: mean over the repeats (their range); pick columns: share "
        "of panels whose chosen answer is right; ECE by chance: the ECE a perfectly "
        "calibrated confidence would show on these panels; split: same-answer (both right) "
        "pairs put in different clusters",
    )
    for col in (
        "source",
        "panels",
        "Quorum",
        "random",
        "medoid",
        "final-answer vote",
        "best single (hindsight)",
        "oracle",
        "AUROC",
        "ECE",
        "ECE by chance",
        "split",
    ):
        table.add_column(col, justify="left" if col == "source" else "right")
    for name in _report_order(by):
        group = [panels[i] for i in by[name]]
        table.add_row(*_row(name, group, [[run[i] for i in by[name]] for run in runs]))
    console.print(table)

    rel = Table(
        title="Reliability of the confidence (held-out picks, all sources"
        + (", first repeat)" if len(seeds) > 1 else ")")
    )
    for col in ("confidence", "panels", "mean confidence", "share right"):
        rel.add_column(col, justify="right")
    for b in summarise(runs[0]).reliability:
        if b.count:
            rel.add_row(
                f"{b.low:.1f}–{b.high:.1f}", str(b.count), _fmt(b.mean_confidence), _fmt(b.accuracy)
            )
    console.print(rel)
    _print_audit(console, args.audit, by, ids, audit, runs, audited_runs)


def _report_order(by: Mapping[str, Sequence[int]]) -> list[str]:
    return [n for n in _ORDER if n in by] + sorted(set(by) - set(_ORDER))


def _mean(values: Sequence[float | None]) -> float | None:
    known = [float(v) for v in values if v is not None]
    return float(np.mean(known)) if known else None


def _print_audit(
    console: Console,
    path: Path,
    by: Mapping[str, Sequence[int]],
    ids: Sequence[str],
    audit: Mapping[str, frozenset[str]],
    runs: Sequence[Sequence[PanelOutcome]],
    audited_runs: Sequence[Sequence[PanelOutcome]],
) -> None:
    """The same held-out confidences scored against the audited labels, per source."""
    found = {i for i in ids if i in audit}
    if not found:
        console.print(f"Label audit {path.name}: none of its panels is in these files.")
        return
    table = Table(
        title=f"Label audit ({path.name}): {len(found)} panels re-judged by reading, "
        "the same held-out confidences",
        caption="as labelled → audited (mean over the repeats); the audit never reaches the fit",
    )
    for col in ("source", "re-judged", "Quorum pick", "AUROC", "ECE"):
        table.add_column(col, justify="left" if col == "source" else "right")
    for name in _report_order(by):
        members = by[name]
        rejudged = sum(ids[i] in audit for i in members)
        if not rejudged and name not in ("ordinary", "all"):
            continue
        labelled = [summarise([r[i] for i in members]) for r in runs]
        judged = [summarise([r[i] for i in members]) for r in audited_runs]
        cells = [
            f"{_fmt(_mean([getattr(m, metric) for m in labelled]))} → "
            f"{_fmt(_mean([getattr(m, metric) for m in judged]))}"
            for metric in ("pick_accuracy", "auroc", "ece")
        ]
        table.add_row(name, str(rejudged), *cells)
    console.print(table)


if __name__ == "__main__":
    main()
