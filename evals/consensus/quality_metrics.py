"""How good a consensus pick and its confidence are: accuracy, AUROC, ECE, Brier.

``confidence`` means "probability the pick is right", so it is judged as a
probability: does it rank right picks above wrong ones (AUROC), and do the picks
given 70% come out right about 70% of the time (reliability table, ECE)?
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

DEFAULT_BINS = 10


@dataclass(frozen=True)
class PanelOutcome:
    """One scored panel: was the pick right, how confident were we, what was possible."""

    pick_correct: bool
    confidence: float
    fraction_correct: float  # share of the panel's answers that are correct (random pick)
    any_correct: bool  # the oracle could have picked a right answer


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    count: int
    mean_confidence: float
    accuracy: float


@dataclass(frozen=True)
class QualityMetrics:
    panels: int
    pick_accuracy: float
    random_pick_accuracy: float
    oracle_accuracy: float
    auroc: float | None
    ece: float
    brier: float
    mean_confidence: float
    reliability: tuple[ReliabilityBin, ...]

    @property
    def lift_over_random(self) -> float:
        return self.pick_accuracy - self.random_pick_accuracy

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["lift_over_random"] = self.lift_over_random
        data["reliability"] = [asdict(b) for b in self.reliability]
        return data


def _arrays(labels: Sequence[bool], probs: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=np.float64)
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    if y.shape != p.shape:
        raise ValueError("labels and probabilities must have the same length")
    return y, p


def auroc(labels: Sequence[bool], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve; ``None`` when only one class is present."""
    y = np.asarray(labels, dtype=bool)
    if y.size == 0 or y.all() or not y.any():
        return None
    # Lazy: scikit-learn takes ~0.7 s to import and only fitting needs it (fast CLI start).
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, np.asarray(scores, dtype=np.float64)))


def _bin_index(p: npt.NDArray[np.float64], bins: int) -> npt.NDArray[np.intp]:
    """Each probability's equal-width bin (a probability on an edge goes to the lower bin)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    return np.clip(np.digitize(p, edges[1:-1], right=True), 0, bins - 1)


def reliability_table(
    labels: Sequence[bool], probs: Sequence[float], bins: int = DEFAULT_BINS
) -> tuple[ReliabilityBin, ...]:
    """Equal-width confidence bins with their mean confidence and observed accuracy."""
    y, p = _arrays(labels, probs)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = _bin_index(p, bins)
    table: list[ReliabilityBin] = []
    for b in range(bins):
        mask = index == b
        count = int(mask.sum())
        table.append(
            ReliabilityBin(
                low=float(edges[b]),
                high=float(edges[b + 1]),
                count=count,
                mean_confidence=float(p[mask].mean()) if count else 0.0,
                accuracy=float(y[mask].mean()) if count else 0.0,
            )
        )
    return tuple(table)


def expected_calibration_error(
    labels: Sequence[bool], probs: Sequence[float], bins: int = DEFAULT_BINS
) -> float:
    """Count-weighted mean gap between confidence and accuracy over equal-width bins."""
    y, _ = _arrays(labels, probs)
    if y.size == 0:
        return 0.0
    table = reliability_table(labels, probs, bins)
    return float(sum(b.count * abs(b.accuracy - b.mean_confidence) for b in table) / y.size)


def _chance_eces(
    probs: Sequence[float], bins: int = DEFAULT_BINS, draws: int = 400, seed: int = 0
) -> npt.NDArray[np.float64]:
    """The ECE of each of ``draws`` sets of outcomes drawn as if every confidence in
    ``probs`` were exactly right: what sampling alone gives.

    A perfectly calibrated confidence still shows an ECE above 0 on a finite set (each
    bin's share right is a sample): about 0.04 on 600 panels spread from 10% to 70%, 0.1
    and more on 30. An ECE inside this spread is as calibrated as the data can show.
    """
    p = np.clip(np.asarray(probs, dtype=np.float64), 0.0, 1.0)
    if p.size == 0:
        return np.zeros(draws)
    index = _bin_index(p, bins)
    conf_sum = np.bincount(index, weights=p, minlength=bins)
    outcomes = np.random.default_rng(seed).random((draws, p.size)) < p
    right = np.stack([np.bincount(index, weights=row, minlength=bins) for row in outcomes])
    # Per bin: |right - sum of confidences| = count * |accuracy - mean confidence|.
    eces: npt.NDArray[np.float64] = np.abs(right - conf_sum).sum(axis=1) / p.size
    return eces


def chance_ece(
    probs: Sequence[float], bins: int = DEFAULT_BINS, quantile: float | None = None
) -> float:
    """The ECE by chance (see :func:`_chance_eces`): its mean, the floor an ECE is judged
    against, or the given ``quantile`` of its spread (0.9: what chance exceeds one time in
    ten)."""
    eces = _chance_eces(probs, bins)
    return float(eces.mean() if quantile is None else np.quantile(eces, quantile))


def brier(labels: Sequence[bool], probs: Sequence[float]) -> float:
    y, p = _arrays(labels, probs)
    if y.size == 0:
        return 0.0
    # Lazy: scikit-learn takes ~0.7 s to import and only fitting needs it (fast CLI start).
    from sklearn.metrics import brier_score_loss

    return float(brier_score_loss(y.astype(int), p))


def summarise(outcomes: Sequence[PanelOutcome], bins: int = DEFAULT_BINS) -> QualityMetrics:
    """All the numbers for a set of scored panels."""
    if not outcomes:
        raise ValueError("no panels to summarise")
    labels = [o.pick_correct for o in outcomes]
    probs = [o.confidence for o in outcomes]
    return QualityMetrics(
        panels=len(outcomes),
        pick_accuracy=float(np.mean(labels)),
        random_pick_accuracy=float(np.mean([o.fraction_correct for o in outcomes])),
        oracle_accuracy=float(np.mean([o.any_correct for o in outcomes])),
        auroc=auroc(labels, probs),
        ece=expected_calibration_error(labels, probs, bins),
        brier=brier(labels, probs),
        mean_confidence=float(np.mean(probs)),
        reliability=reliability_table(labels, probs, bins),
    )
