"""Fitting a calibrator on labelled panels, and estimating how good it is held out.

* member records: each model's share of right informative answers;
* the *answer model* scores each informative answer (agreement with the others,
  cluster share, member reliability and the evidence behind its cluster, a missing
  final answer, negation, hedging, length, echoing the question);
* the *confidence model* maps the pick's score and the panel's shape to the probability
  that the pick is right. It is fitted on out-of-fold picks, so the probability is not
  flattered by the answer model having seen the same questions.

Everything is cross-validated by question (GroupKFold): a question's panels never sit
on both sides of a split.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from evals.consensus.agreement import PanelAnalysis, analyse_panel
from evals.consensus.calibrator import Calibrator, Decision, LinearModel, MemberRecord
from evals.consensus.features import (
    ANSWER_FEATURES,
    MONOTONE_FEATURES,
    MONOTONE_PANEL_FEATURES,
    PANEL_FEATURES,
)
from evals.consensus.quality_metrics import PanelOutcome, QualityMetrics, summarise
from evals.embedding.chunking import embed_chunks
from evals.errors import CalibrationError
from evals.jsonl import jsonl_lines
from evals.protocols import Embedder
from evals.user_files import MAX_ANSWER_CHARS, read_text

DEFAULT_FOLDS = 5
#: Inverse L2 strength for both logistic models: mild, the feature sets are small.
REGULARISATION_C = 1.0
_MIN_PANELS = 10


def fit_linear(
    rows: Sequence[Mapping[str, float]],
    labels: Sequence[bool],
    features: Sequence[str],
    *,
    nonnegative: frozenset[str] = frozenset(),
    c: float = REGULARISATION_C,
) -> LinearModel:
    """Fit a standardised L2 logistic regression with scikit-learn.

    A feature in ``nonnegative`` whose fitted weight comes out negative is dropped
    (weight 0) and the model refitted without it.
    """
    y = np.asarray(labels, dtype=int)
    if y.size == 0 or y.min() == y.max():
        raise CalibrationError("Calibration needs both right and wrong examples.")
    active = list(features)
    while active:
        x = np.asarray(
            [[float(r.get(f, math.nan)) for f in active] for r in rows], dtype=np.float64
        ).reshape(len(rows), len(active))
        known = np.isfinite(x)
        # A missing or unknown value is no evidence: it takes its column's mean.
        counts = known.sum(axis=0)
        sums = np.where(known, x, 0.0).sum(axis=0)
        column_means = np.divide(sums, counts, out=np.zeros(len(active)), where=counts > 0)
        x = np.where(known, x, column_means)
        # Lazy: scikit-learn takes ~0.6 s to import and only fitting needs it (fast CLI start).
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(x)
        scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
        model = LogisticRegression(C=c, max_iter=1000).fit((x - scaler.mean_) / scale, y)
        coef = dict(zip(active, model.coef_[0].tolist(), strict=True))
        negative = [f for f in active if f in nonnegative and coef[f] < 0]
        if not negative:
            break
        active.remove(negative[0])
    else:  # every feature was dropped: the base rate alone
        rate = float(y.mean())
        return LinearModel(
            features=tuple(features),
            mean=tuple(0.0 for _ in features),
            scale=tuple(1.0 for _ in features),
            coef=tuple(0.0 for _ in features),
            intercept=math.log(rate / (1.0 - rate)),
        )
    means = dict(zip(active, scaler.mean_.tolist(), strict=True))
    scales = dict(zip(active, scale.tolist(), strict=True))
    return LinearModel(
        features=tuple(features),
        mean=tuple(means.get(f, 0.0) for f in features),
        scale=tuple(scales.get(f, 1.0) for f in features),
        coef=tuple(coef.get(f, 0.0) if f in active else 0.0 for f in features),
        intercept=float(model.intercept_[0]),
    )


def member_records(panels: Sequence[LabelledPanel]) -> tuple[dict[str, MemberRecord], float]:
    """Each member's record over the informative answers of ``panels``, and the base rate."""
    counts: dict[str, list[float]] = {}
    for panel in panels:
        an = panel.analysis
        for i, member in enumerate(an.members):
            if an.informative[i]:
                right, total = counts.setdefault(member, [0.0, 0.0])
                counts[member] = [right + bool(panel.correct.get(member, False)), total + 1]
    right = sum(r for r, _ in counts.values())
    total = sum(t for _, t in counts.values())
    base = min(max(right / total, 0.01), 0.99) if total else 0.5
    return {m: MemberRecord(r, t) for m, (r, t) in counts.items()}, base


@dataclass(frozen=True)
class LabelledPanel:
    """A panel's analysis with a right/wrong label per member; ``group`` is the question."""

    group: str
    analysis: PanelAnalysis
    correct: Mapping[str, bool]
    source: str = ""  # where the panel came from, for per-source reports (never a feature)

    def outcome(self, decision: Decision) -> PanelOutcome:
        labels = [bool(self.correct.get(m, False)) for m in self.analysis.members]
        total = max(self.analysis.total_answers, len(labels))
        return PanelOutcome(
            pick_correct=labels[decision.pick],
            confidence=decision.confidence,
            fraction_correct=sum(labels) / total,
            any_correct=any(labels),
        )


def _answer_rows(
    panels: Sequence[LabelledPanel], records: Calibrator
) -> tuple[list[Mapping[str, float]], list[bool]]:
    rows: list[Mapping[str, float]] = []
    labels: list[bool] = []
    for panel in panels:
        an = panel.analysis
        features = records.answer_rows(an)
        for i, member in enumerate(an.members):
            if an.informative[i]:
                rows.append(features[i])
                labels.append(bool(panel.correct.get(member, False)))
    return rows, labels


def _fit_answer_model(
    panels: Sequence[LabelledPanel], c: float, features: Sequence[str] = ANSWER_FEATURES
) -> Calibrator:
    """A calibrator with member records and an answer model (its confidence model neutral)."""
    members, base = member_records(panels)
    records = Calibrator(_NEUTRAL_ANSWER, _NEUTRAL_CONFIDENCE, {}, members, base)
    rows, labels = _answer_rows(panels, records)
    model = fit_linear(rows, labels, features, nonnegative=MONOTONE_FEATURES, c=c)
    return replace(records, answer_model=model)


def question_folds(
    panels: Sequence[LabelledPanel], folds: int, seed: int | None = None
) -> list[tuple[list[int], list[int]]]:
    """Folds grouped by question: balanced by size, or shuffled by ``seed`` when given."""
    groups = [p.group for p in panels]
    n = min(folds, len(set(groups)))
    if n < 2:
        raise CalibrationError("Calibration needs panels for at least two different questions.")
    # Lazy: see the fit above.
    from sklearn.model_selection import GroupKFold

    splitter = (
        GroupKFold(n_splits=n)
        if seed is None
        else GroupKFold(n_splits=n, shuffle=True, random_state=seed)
    )
    return [
        (train.tolist(), test.tolist())
        for train, test in splitter.split(np.zeros(len(panels)), groups=groups)
    ]


def fit_calibrator(
    examples: Sequence[LabelledPanel],
    *,
    provenance: Mapping[str, Any] | None = None,
    folds: int = DEFAULT_FOLDS,
    c: float = REGULARISATION_C,
    answer_features: Sequence[str] = ANSWER_FEATURES,
) -> Calibrator:
    """Fit the answer model on all panels and the confidence model on out-of-fold picks.

    Folds are grouped by question, so a question's panels never straddle a split.
    ``answer_features`` picks a subset of the answer features (for ablations).
    """
    if len(examples) < _MIN_PANELS:
        raise CalibrationError(
            f"Calibration needs at least {_MIN_PANELS} labelled panels; got {len(examples)}."
        )
    oof_rows: list[Mapping[str, float]] = []
    oof_labels: list[bool] = []
    for train, test in question_folds(examples, folds):
        interim = _fit_answer_model([examples[i] for i in train], c, answer_features)
        for i in test:
            decision = interim.decide(examples[i].analysis)
            oof_rows.append(decision.features)
            oof_labels.append(examples[i].outcome(decision).pick_correct)
    confidence_model = fit_linear(
        oof_rows, oof_labels, PANEL_FEATURES, nonnegative=MONOTONE_PANEL_FEATURES, c=c
    )
    fitted = _fit_answer_model(examples, c, answer_features)
    return replace(fitted, confidence_model=confidence_model, provenance=dict(provenance or {}))


def _neutral(features: Sequence[str]) -> LinearModel:
    return LinearModel(
        features=tuple(features),
        mean=tuple(0.0 for _ in features),
        scale=tuple(1.0 for _ in features),
        coef=tuple(0.0 for _ in features),
        intercept=0.0,
    )


_NEUTRAL_ANSWER = _neutral(ANSWER_FEATURES)
_NEUTRAL_CONFIDENCE = _neutral(PANEL_FEATURES)


def cross_validate(
    examples: Sequence[LabelledPanel],
    *,
    folds: int = DEFAULT_FOLDS,
    c: float = REGULARISATION_C,
    fit: Callable[[Sequence[LabelledPanel]], Calibrator] | None = None,
) -> QualityMetrics:
    """Held-out estimate: fit on the other questions' panels, score each fold's panels."""
    return summarise(held_out_outcomes(examples, folds=folds, c=c, fit=fit))


def held_out_decisions(
    examples: Sequence[LabelledPanel],
    *,
    folds: int = DEFAULT_FOLDS,
    c: float = REGULARISATION_C,
    fit: Callable[[Sequence[LabelledPanel]], Calibrator] | None = None,
    seed: int | None = None,
) -> list[Decision]:
    """Each panel's decision by a calibrator fitted without its question, in input order.

    ``seed`` shuffles which questions share a fold (repeated cross-validation: how much
    the numbers owe to one particular split)."""
    fitter = fit or (lambda train: fit_calibrator(train, folds=folds, c=c))
    decisions: list[Decision | None] = [None] * len(examples)
    for train, test in question_folds(examples, folds, seed):
        calibrator = fitter([examples[i] for i in train])
        for i in test:
            decisions[i] = calibrator.decide(examples[i].analysis)
    return [d for d in decisions if d is not None]


def held_out_outcomes(
    examples: Sequence[LabelledPanel],
    *,
    folds: int = DEFAULT_FOLDS,
    c: float = REGULARISATION_C,
    fit: Callable[[Sequence[LabelledPanel]], Calibrator] | None = None,
    seed: int | None = None,
) -> list[PanelOutcome]:
    """Each panel's outcome under a calibrator fitted without its question, in input order
    (see :func:`held_out_decisions`)."""
    decisions = held_out_decisions(examples, folds=folds, c=c, fit=fit, seed=seed)
    return [example.outcome(d) for example, d in zip(examples, decisions, strict=True)]


def by_source(
    examples: Sequence[LabelledPanel], outcomes: Sequence[PanelOutcome]
) -> dict[str, QualityMetrics]:
    """The metrics of each source's panels (sources in first-seen order)."""
    groups: dict[str, list[PanelOutcome]] = {}
    for example, outcome in zip(examples, outcomes, strict=True):
        groups.setdefault(example.source, []).append(outcome)
    return {source: summarise(group) for source, group in groups.items()}


# -- labelled JSONL (consensus_dev.jsonl format) ------------------------------------------


def read_labelled_panels(
    path: str | Path, embedder: Embedder, progress: Callable[[int, int], None] | None = None
) -> list[LabelledPanel]:
    """Analyse every panel of a labelled JSONL file (answers carry a boolean ``correct``).

    Every answer's chunks are embedded first, in large batches (``progress`` hears
    ``(done, total)`` chunks), then each panel is analysed from those vectors.
    A panel's ``source`` is its line's ``source`` field, else the file's name.
    """
    p = Path(path)
    lines = jsonl_lines(read_text(p))
    parsed = [_parse_labelled(line, f"{p.name} line {n}") for n, line in enumerate(lines, 1)]
    records = [r for r in parsed if r is not None]
    vectors = embed_chunks(
        embedder, (text for _, texts, _, _ in records for text in texts.values()), progress
    )
    panels = [
        LabelledPanel(
            group=question.strip(),
            analysis=analyse_panel(texts, embedder, question=question, vectors=vectors),
            correct=correct,
            source=source or p.name,
        )
        for question, texts, correct, source in records
    ]
    if not panels:
        raise CalibrationError(f"{p} has no labelled panels.")
    return panels


def _parse_labelled(
    line: str, where: str
) -> tuple[str, dict[str, str], dict[str, bool], str] | None:
    """(question, texts, labels, source) of one labelled line; None for a blank line."""
    if not line.strip():
        return None
    try:
        record = json.loads(line)
        question = record["question"]
        answers = record["answers"]
        if not isinstance(question, str) or not isinstance(answers, list) or not answers:
            raise TypeError("'question' must be text and 'answers' a non-empty list")
        texts: dict[str, str] = {}
        correct: dict[str, bool] = {}
        for answer in answers:
            model, text, label = answer["model"], answer.get("text") or "", answer["correct"]
            if not isinstance(model, str) or not isinstance(text, str):
                raise TypeError("each answer needs 'model' and 'text' as text")
            if not isinstance(label, bool):
                raise TypeError("each answer's 'correct' must be true or false")
            if model in texts:
                raise ValueError(f"model {model!r} appears twice")
            if len(text) > MAX_ANSWER_CHARS:
                raise ValueError(
                    f"the answer of {model!r} is {len(text):,} characters long; "
                    f"the limit is {MAX_ANSWER_CHARS:,}"
                )
            texts[model], correct[model] = text, label
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"{where} is not valid JSON: {exc.msg}.") from exc
    except (KeyError, TypeError, ValueError) as exc:
        detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise CalibrationError(f"{where} is not a labelled panel: {detail}.") from exc
    source = record.get("source")
    return question, texts, correct, source if isinstance(source, str) else ""


@dataclass(frozen=True)
class FitReport:
    """A fitted calibrator with its held-out quality, overall and per source."""

    calibrator: Calibrator
    metrics: QualityMetrics
    per_source: Mapping[str, QualityMetrics]


def fit_from_labelled_files(
    paths: Sequence[str | Path],
    embedder: Embedder,
    *,
    folds: int = DEFAULT_FOLDS,
    data_label: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FitReport:
    """Fit a calibrator on labelled files and estimate its held-out quality.

    The metrics are cross-validated by question (GroupKFold), overall and per source;
    the returned calibrator is fitted on every panel and records each file with its
    SHA-256, the metrics, and the held-out reliability table that explains its numbers
    to readers. ``data_label`` names the data in that explanation (default: the files).
    """
    files = [Path(p) for p in paths]
    if not files:
        raise CalibrationError("Name at least one labelled file.")
    panels: list[LabelledPanel] = []
    data: list[dict[str, Any]] = []
    for path in files:
        read = read_labelled_panels(path, embedder, progress)
        panels.extend(read)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        data.append({"file": path.name, "sha256": digest, "panels": len(read)})
    outcomes = held_out_outcomes(panels, folds=folds)
    metrics = summarise(outcomes)
    per_source = by_source(panels, outcomes)
    provenance = {
        "data": data,
        "data_label": data_label or " and ".join(p.name for p in files),
        "panels": len(panels),
        "questions": len({x.group for x in panels}),
        "answers": sum(x.analysis.size for x in panels),
        "embedder": embedder.name,
        "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "method": (
            "member records: each model's share of right informative answers, with the "
            "base rate times its panel weight as a prior; answer model: L2 logistic "
            "regression on standardised answer features; confidence model: L2 logistic "
            "regression on out-of-fold picks"
        ),
        "cross_validation": {
            "folds": folds,
            "grouped_by": "question",
            **metrics.to_dict(),
            "per_source": {k: v.to_dict() for k, v in per_source.items()},
        },
        "reliability": [
            {
                "low": b.low,
                "high": b.high,
                "panels": b.count,
                "right": round(b.accuracy * b.count),
            }
            for b in metrics.reliability
        ],
    }
    calibrator = fit_calibrator(panels, provenance=provenance, folds=folds)
    return FitReport(calibrator, metrics, per_source)
