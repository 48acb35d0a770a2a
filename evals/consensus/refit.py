"""Refit the confidence calibrator from production labels, only when it helps.

Production labels (👍/👎 and corrections on served consensus answers) say whether the
*pick* was right, and so whether each member that gave the same answer (the pick's
cluster) was right: those members' records are added to, and the calibrator's confidence
model is refitted; its answer model (which ranks answers) is kept. The newest labels
are held out: the refit is fitted on the older ones and both the previous and the new
calibrator are scored (Brier, ECE) on the held-out ones. The new calibrator is adopted
only if its held-out Brier score is no worse; it is then refitted on every label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from evals.consensus.calibrator import Calibrator, MemberRecord
from evals.consensus.calibrator_fit import fit_linear
from evals.consensus.features import MONOTONE_PANEL_FEATURES, PANEL_FEATURES
from evals.consensus.quality_metrics import brier, expected_calibration_error
from evals.errors import CalibrationError

DEFAULT_MIN_LABELS = 50
HOLDOUT_FRACTION = 0.3
ECE_BINS = 5


@dataclass(frozen=True)
class Label:
    """A served consensus people judged: its panel features and whether it was right."""

    features: Mapping[str, float]
    correct: bool
    created_at: datetime
    #: The members whose answers this label judges (the consensus answer's cluster).
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class RefitResult:
    refitted: bool
    reason: str
    calibrator: Calibrator  # the one to serve from now on (new, or the previous one)
    n_labels: int
    n_holdout: int = 0
    old_brier: float | None = None
    new_brier: float | None = None
    old_ece: float | None = None
    new_ece: float | None = None

    def metrics(self) -> dict[str, Any]:
        return {
            "labels": self.n_labels,
            "holdout": self.n_holdout,
            "brier_previous": self.old_brier,
            "brier_new": self.new_brier,
            "ece_previous": self.old_ece,
            "ece_new": self.new_ece,
        }


def with_production_records(
    current: Calibrator, labels: Sequence[Label]
) -> dict[str, MemberRecord]:
    """``current``'s member records with each label counted for the members it judges."""
    records = {m: [r.right, r.answers] for m, r in current.members.items()}
    for label in labels:
        for member in label.members:
            tally = records.setdefault(member, [0.0, 0.0])
            tally[0] += 1.0 if label.correct else 0.0
            tally[1] += 1.0
    return {m: MemberRecord(right, answers) for m, (right, answers) in records.items()}


def _refitted(
    current: Calibrator, labels: Sequence[Label], provenance: dict[str, Any]
) -> Calibrator:
    model = fit_linear(
        [dict(label.features) for label in labels],
        [label.correct for label in labels],
        PANEL_FEATURES,
        nonnegative=MONOTONE_PANEL_FEATURES,
    )
    return replace(
        current,
        confidence_model=model,
        provenance=provenance,
        members=with_production_records(current, labels),
    )


def refit_calibrator(
    current: Calibrator,
    labels: Sequence[Label],
    *,
    now: datetime,
    min_labels: int = DEFAULT_MIN_LABELS,
    holdout_fraction: float = HOLDOUT_FRACTION,
) -> RefitResult:
    """Refit ``current``'s confidence model on ``labels`` if there are enough and the
    result is no worse on the newest ``holdout_fraction`` of them."""
    n = len(labels)
    if n < min_labels:
        return RefitResult(
            False, f"only {n} production label(s); {min_labels} needed to refit", current, n
        )
    ordered = sorted(labels, key=lambda label: label.created_at)
    n_holdout = max(1, round(n * holdout_fraction))
    train, holdout = ordered[:-n_holdout], ordered[-n_holdout:]
    try:
        candidate = _refitted(current, train, {})
    except CalibrationError as exc:
        return RefitResult(False, f"kept the calibrator: {exc.user_message}", current, n)

    y = [label.correct for label in holdout]
    old_p = [current.predict(label.features) for label in holdout]
    new_p = [candidate.predict(label.features) for label in holdout]
    old_brier, new_brier = brier(y, old_p), brier(y, new_p)
    old_ece = expected_calibration_error(y, old_p, ECE_BINS)
    new_ece = expected_calibration_error(y, new_p, ECE_BINS)
    if new_brier > old_brier:
        return RefitResult(
            False,
            f"kept the calibrator: the refit scored worse on the {len(holdout)} newest labels "
            f"(Brier {new_brier:.3f} vs {old_brier:.3f})",
            current,
            n,
            len(holdout),
            old_brier,
            new_brier,
            old_ece,
            new_ece,
        )
    provenance = {
        **dict(current.provenance),
        "refit": {
            "from": current.id,
            "labels": n,
            "fitted_at": now.isoformat(timespec="seconds"),
            "method": (
                "confidence model refitted on production labels; the members of each "
                "judged consensus counted in their records; answer model kept"
            ),
            "holdout": {"labels": len(holdout), "brier": new_brier, "ece": new_ece},
            "previous_holdout": {"brier": old_brier, "ece": old_ece},
        },
    }
    final = _refitted(current, ordered, provenance)
    return RefitResult(
        True,
        f"refitted on {n} production labels (held-out Brier {new_brier:.3f}, was {old_brier:.3f})",
        final,
        n,
        len(holdout),
        old_brier,
        new_brier,
        old_ece,
        new_ece,
    )
