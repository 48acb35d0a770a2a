"""From raw agreement features to "probability this answer is right".

A :class:`Calibrator` holds two small logistic models fitted on labelled panels:

* the *answer model* scores each informative answer (agreement with the others,
  cluster support, negation, hedging, length, echoing the question) and the
  consensus picks the best-scored one;
* the *confidence model* maps the pick's score and the panel's shape (cluster
  support, entropy over clusters, share of informative answers) to the calibrated
  probability that the pick is right. It is fitted on out-of-fold picks, so the
  probability is not flattered by the answer model having seen the same questions.

Agreement features are constrained to non-negative weights: agreement is evidence,
never a penalty. Calibrators are plain JSON (no pickle) with their provenance.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler

from evals.agreement import (
    ANSWER_FEATURES,
    MONOTONE_FEATURES,
    PANEL_FEATURES,
    PanelAnalysis,
    analyse_panel,
    panel_features,
    pick_answer,
)
from evals.calibration_metrics import PanelOutcome, QualityMetrics, summarise
from evals.errors import CalibrationError
from evals.ports import Embedder

FORMAT = "quorum-calibrator/1"
DEFAULT_FOLDS = 5
#: Inverse L2 strength for both logistic models: mild, the feature sets are small.
REGULARISATION_C = 1.0
#: The confidence model may not lower confidence for a better-scored or better-supported pick.
MONOTONE_PANEL_FEATURES: frozenset[str] = frozenset(
    {"pick_logit", "margin", "pick_cluster_share", "informative_fraction"}
)
_MIN_PANELS = 10
#: The score given to a non-answer picked because nothing informative was said.
_NON_ANSWER_LOGIT = -6.0


@dataclass(frozen=True)
class LinearModel:
    """Standardised logistic model: logit = intercept + sum(coef * (x - mean) / scale)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def logit(self, values: Mapping[str, float]) -> float:
        total = self.intercept
        for name, mean, scale, coef in zip(
            self.features, self.mean, self.scale, self.coef, strict=True
        ):
            x = float(values.get(name, mean))
            if not math.isfinite(x):
                x = mean  # unknown feature: the training average, i.e. no evidence
            total += coef * (x - mean) / scale
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "coef": list(self.coef),
            "intercept": self.intercept,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> LinearModel:
        if not isinstance(data, dict):
            raise CalibrationError(f"{where} must be an object.")
        try:
            features = tuple(str(f) for f in data["features"])
            arrays = [tuple(float(v) for v in data[k]) for k in ("mean", "scale", "coef")]
            intercept = float(data["intercept"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(
                f"{where} needs 'features', 'mean', 'scale', 'coef' (lists) and "
                f"'intercept' (a number): {exc}"
            ) from exc
        if any(len(a) != len(features) for a in arrays):
            raise CalibrationError(f"{where}: 'mean', 'scale' and 'coef' must match 'features'.")
        numbers = [intercept, *(v for a in arrays for v in a)]
        if not all(math.isfinite(v) for v in numbers) or any(s <= 0 for s in arrays[1]):
            raise CalibrationError(f"{where}: numbers must be finite and scales positive.")
        return cls(features, arrays[0], arrays[1], arrays[2], intercept)


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


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


@dataclass(frozen=True)
class Decision:
    """The pick for one panel and how sure we are of it."""

    pick: int
    logits: tuple[float, ...]
    features: Mapping[str, float]
    confidence: float


@dataclass(frozen=True)
class Calibrator:
    answer_model: LinearModel
    confidence_model: LinearModel
    provenance: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """Content id: the same fitted numbers always give the same id."""
        payload = json.dumps(
            [self.answer_model.to_dict(), self.confidence_model.to_dict()], sort_keys=True
        )
        return "cal-" + hashlib.sha256(payload.encode()).hexdigest()[:12]

    def score_answer(self, features: Mapping[str, float]) -> float:
        """Log-odds that one informative answer is right (used to rank answers)."""
        return self.answer_model.logit(features)

    def predict(self, features: Mapping[str, float]) -> float:
        """Calibrated probability in [0, 1] that the panel's pick is right."""
        return min(1.0, max(0.0, _sigmoid(self.confidence_model.logit(features))))

    def decide(self, analysis: PanelAnalysis) -> Decision:
        logits = tuple(
            self.score_answer(f) if analysis.informative[i] else -math.inf
            for i, f in enumerate(analysis.answer_features)
        )
        pick = pick_answer(analysis, logits)
        pick_logit = logits[pick] if math.isfinite(logits[pick]) else _NON_ANSWER_LOGIT
        features = panel_features(analysis, pick, logits, pick_logit)
        return Decision(pick, logits, features, self.predict(features))

    # -- JSON ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "id": self.id,
            "answer_model": self.answer_model.to_dict(),
            "confidence_model": self.confidence_model.to_dict(),
            "provenance": dict(self.provenance),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: Any, where: str = "calibrator") -> Calibrator:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise CalibrationError(f"{where} is not a Quorum calibrator (format {FORMAT!r}).")
        provenance = data.get("provenance", {})
        if not isinstance(provenance, dict):
            raise CalibrationError(f"{where}: 'provenance' must be an object.")
        calibrator = cls(
            LinearModel.from_dict(data.get("answer_model"), f"{where}: answer_model"),
            LinearModel.from_dict(data.get("confidence_model"), f"{where}: confidence_model"),
            provenance,
        )
        if "id" in data and data["id"] != calibrator.id:
            raise CalibrationError(f"{where}: the id does not match its numbers (edited by hand?).")
        return calibrator

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")


def load_calibrator(path: str | Path) -> Calibrator:
    """Read a calibrator JSON file; a missing or malformed file raises CalibrationError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise CalibrationError(f"Cannot read the calibrator file {p}: {exc.strerror}.") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"The calibrator file {p} is not valid JSON: {exc}.") from exc
    return Calibrator.from_dict(data, where=f"The calibrator file {p}")


@cache
def default_calibrator() -> Calibrator:
    """The calibrator shipped with the package (fitted on the TruthfulQA dev panels)."""
    resource = resources.files("evals").joinpath("data/calibrator.json")
    try:
        data = json.loads(resource.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"The bundled calibrator is missing or broken: {exc}") from exc
    return Calibrator.from_dict(data, where="The bundled calibrator")


# -- fitting --------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelledPanel:
    """A panel's analysis with a right/wrong label per member; ``group`` is the question."""

    group: str
    analysis: PanelAnalysis
    correct: Mapping[str, bool]

    def outcome(self, decision: Decision) -> PanelOutcome:
        labels = [bool(self.correct.get(m, False)) for m in self.analysis.members]
        total = max(self.analysis.total_answers, len(labels))
        return PanelOutcome(
            pick_correct=labels[decision.pick],
            confidence=decision.confidence,
            fraction_correct=sum(labels) / total,
            any_correct=any(labels),
        )


def _answer_rows(panels: Sequence[LabelledPanel]) -> tuple[list[Mapping[str, float]], list[bool]]:
    rows: list[Mapping[str, float]] = []
    labels: list[bool] = []
    for panel in panels:
        an = panel.analysis
        for i, member in enumerate(an.members):
            if an.informative[i]:
                rows.append(an.answer_features[i])
                labels.append(bool(panel.correct.get(member, False)))
    return rows, labels


def _fit_answer_model(
    panels: Sequence[LabelledPanel], c: float, features: Sequence[str] = ANSWER_FEATURES
) -> LinearModel:
    rows, labels = _answer_rows(panels)
    return fit_linear(rows, labels, features, nonnegative=MONOTONE_FEATURES, c=c)


def _folds(panels: Sequence[LabelledPanel], folds: int) -> list[tuple[list[int], list[int]]]:
    groups = [p.group for p in panels]
    n = min(folds, len(set(groups)))
    if n < 2:
        raise CalibrationError("Calibration needs panels for at least two different questions.")
    splitter = GroupKFold(n_splits=n)
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
    for train, test in _folds(examples, folds):
        fold_answer_model = _fit_answer_model([examples[i] for i in train], c, answer_features)
        interim = Calibrator(fold_answer_model, _NEUTRAL_CONFIDENCE)
        for i in test:
            decision = interim.decide(examples[i].analysis)
            oof_rows.append(decision.features)
            oof_labels.append(examples[i].outcome(decision).pick_correct)
    confidence_model = fit_linear(
        oof_rows, oof_labels, PANEL_FEATURES, nonnegative=MONOTONE_PANEL_FEATURES, c=c
    )
    answer_model = _fit_answer_model(examples, c, answer_features)
    return Calibrator(answer_model, confidence_model, dict(provenance or {}))


_NEUTRAL_CONFIDENCE = LinearModel(
    features=PANEL_FEATURES,
    mean=tuple(0.0 for _ in PANEL_FEATURES),
    scale=tuple(1.0 for _ in PANEL_FEATURES),
    coef=tuple(0.0 for _ in PANEL_FEATURES),
    intercept=0.0,
)


def cross_validate(
    examples: Sequence[LabelledPanel],
    *,
    folds: int = DEFAULT_FOLDS,
    c: float = REGULARISATION_C,
    fit: Callable[[Sequence[LabelledPanel]], Calibrator] | None = None,
) -> QualityMetrics:
    """Held-out estimate: fit on the other questions' panels, score each fold's panels."""
    fitter = fit or (lambda train: fit_calibrator(train, folds=folds, c=c))
    outcomes: list[PanelOutcome] = []
    for train, test in _folds(examples, folds):
        calibrator = fitter([examples[i] for i in train])
        outcomes.extend(examples[i].outcome(calibrator.decide(examples[i].analysis)) for i in test)
    return summarise(outcomes)


# -- labelled JSONL (consensus_dev.jsonl format) ------------------------------------------


def read_labelled_panels(path: str | Path, embedder: Embedder) -> list[LabelledPanel]:
    """Analyse every panel of a labelled JSONL file (answers carry a boolean ``correct``)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CalibrationError(f"Cannot read {p}: {exc.strerror}.") from exc
    panels: list[LabelledPanel] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{p.name} line {number}"
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
                texts[model], correct[model] = text, label
        except json.JSONDecodeError as exc:
            raise CalibrationError(f"{where} is not valid JSON: {exc.msg}.") from exc
        except (KeyError, TypeError, ValueError) as exc:
            detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise CalibrationError(f"{where} is not a labelled panel: {detail}.") from exc
        analysis = analyse_panel(texts, embedder, question=question)
        panels.append(LabelledPanel(group=question.strip(), analysis=analysis, correct=correct))
    if not panels:
        raise CalibrationError(f"{p} has no labelled panels.")
    return panels


def fit_from_labelled_jsonl(
    path: str | Path, embedder: Embedder, *, folds: int = DEFAULT_FOLDS
) -> tuple[Calibrator, QualityMetrics]:
    """Fit a calibrator on a labelled file and estimate its held-out quality.

    The metrics are cross-validated by question (GroupKFold); the returned calibrator
    is fitted on every panel and records the file, its SHA-256 and the metrics.
    """
    p = Path(path)
    panels = read_labelled_panels(p, embedder)
    metrics = cross_validate(panels, folds=folds)
    provenance = {
        "data_file": p.name,
        "data_sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
        "panels": len(panels),
        "questions": len({x.group for x in panels}),
        "answers": sum(x.analysis.size for x in panels),
        "embedder": embedder.name,
        "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "method": (
            "answer model: L2 logistic regression on standardised answer features; "
            "confidence model: L2 logistic regression on out-of-fold picks"
        ),
        "cross_validation": {"folds": folds, "grouped_by": "question", **metrics.to_dict()},
    }
    return fit_calibrator(panels, provenance=provenance, folds=folds), metrics
