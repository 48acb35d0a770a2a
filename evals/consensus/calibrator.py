"""From raw agreement features to "probability this answer is right".

A :class:`Calibrator` holds each member's record on labelled answers and two small
logistic models fitted on labelled panels (see :mod:`evals.consensus.calibrator_fit`):

* the *answer model* scores each informative answer (agreement with the others,
  cluster support, negation, hedging, length, echoing the question) and the
  consensus picks the best-scored one, unless the confidence model finds another
  cluster's best answer clearly more likely right;
* the *confidence model* maps the pick's score and the panel's shape (cluster
  support, entropy over clusters, share of informative answers) to the calibrated
  probability that the pick is right. It is fitted on out-of-fold picks, so the
  probability is not flattered by the answer model having seen the same questions.

Agreement and reliability features are constrained to non-negative weights: they are
evidence, never a penalty. Calibrators are plain JSON (no pickle) with their provenance.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from evals.consensus.agreement import PanelAnalysis
from evals.consensus.features import (
    answer_features,
    cluster_leaders,
    panel_features,
    pick_answer,
    reliability_logit,
)
from evals.errors import CalibrationError, InputError
from evals.user_files import read_text, write_text

FORMAT = "quorum-calibrator/2"
#: Earlier formats that still load (they lack member records: every member is unknown).
READABLE_FORMATS = frozenset({"quorum-calibrator/1", FORMAT})
#: How many answers' worth of weight the prior (base accuracy x panel weight) carries
#: against a member's own record.
PRIOR_ANSWERS = 20.0
#: Another cluster's answer replaces the answer model's pick only when the confidence
#: model finds it more likely right by more than this; closer, the two are a tie, and
#: the pick (agreement first, see :data:`~evals.consensus.features.NEAR_TIE`) stands.
CLEARLY_MORE_LIKELY = 0.05
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


@dataclass(frozen=True)
class Decision:
    """The pick for one panel and how sure we are of it."""

    pick: int
    logits: tuple[float, ...]
    features: Mapping[str, float]
    confidence: float


@dataclass(frozen=True)
class MemberRecord:
    """How often one panel member's informative answers were right, from labels."""

    right: float
    answers: float

    def to_dict(self) -> dict[str, float]:
        return {"right": self.right, "answers": self.answers}


@dataclass(frozen=True)
class Calibrator:
    answer_model: LinearModel
    confidence_model: LinearModel
    provenance: Mapping[str, Any] = field(default_factory=dict)
    #: Each member's record on labelled answers (model name -> record).
    members: Mapping[str, MemberRecord] = field(default_factory=dict)
    #: Accuracy of an answer from a member with no record (the labels' base rate).
    base_accuracy: float = 0.5

    @property
    def id(self) -> str:
        """Content id: the same fitted numbers always give the same id."""
        parts: list[Any] = [self.answer_model.to_dict(), self.confidence_model.to_dict()]
        if self.members or self.base_accuracy != 0.5:
            parts.append(
                {
                    "members": {m: r.to_dict() for m, r in sorted(self.members.items())},
                    "base_accuracy": self.base_accuracy,
                }
            )
        payload = json.dumps(parts, sort_keys=True)
        return "cal-" + hashlib.sha256(payload.encode()).hexdigest()[:12]

    def reliability(self, member: str, weight: float = 1.0) -> float:
        """Estimated accuracy of ``member``'s informative answers.

        The prior is the base accuracy with its odds multiplied by the member's panel
        ``weight`` (weight 2: twice the odds of being right); the member's own record
        on labels moves it from there, weighing the prior as :data:`PRIOR_ANSWERS` answers.
        """
        base = min(max(self.base_accuracy, 1e-6), 1 - 1e-6)
        odds = base / (1 - base) * max(weight, 0.0)
        prior = odds / (1 + odds)
        record = self.members.get(member)
        if record is None:
            return prior
        return (record.right + PRIOR_ANSWERS * prior) / (record.answers + PRIOR_ANSWERS)

    def member_logits(self, analysis: PanelAnalysis) -> tuple[float, ...]:
        """Each member's reliability as log-odds relative to an unknown member (0)."""
        base = reliability_logit(self.base_accuracy)
        return tuple(
            reliability_logit(self.reliability(m, float(w))) - base
            for m, w in zip(analysis.members, analysis.weights, strict=True)
        )

    def score_answer(self, features: Mapping[str, float]) -> float:
        """Log-odds that one informative answer is right (used to rank answers)."""
        return self.answer_model.logit(features)

    def predict(self, features: Mapping[str, float]) -> float:
        """Calibrated probability in [0, 1] that the panel's pick is right."""
        return min(1.0, max(0.0, _sigmoid(self.confidence_model.logit(features))))

    def meaning(self, confidence: float) -> str:
        """One line on what ``confidence`` means, from the held-out reliability table in
        the provenance: how often picks given about this much were right, on what data.
        "" when the calibrator carries no such table."""
        table = self.provenance.get("reliability")
        if not isinstance(table, list):
            return ""
        for row in table:
            try:
                low, high = float(row["low"]), float(row["high"])
                panels, right = int(row["panels"]), int(row["right"])
            except (KeyError, TypeError, ValueError):
                return ""
            inside = low <= confidence < high or (high >= 1.0 and confidence >= low)
            if inside and panels > 0:
                data = str(self.provenance.get("data_label") or "labelled test panels")
                return (
                    f"Of {panels:,} held-out answers scored {low:.0%}–{high:.0%} on {data}, "
                    f"{right / panels:.0%} were right."
                )
        return ""

    def answer_rows(self, analysis: PanelAnalysis) -> tuple[dict[str, float], ...]:
        """The answer model's features for each member of ``analysis``."""
        return answer_features(analysis, self.member_logits(analysis))

    def decide(self, analysis: PanelAnalysis) -> Decision:
        """The pick and its calibrated confidence.

        The answer model's best-scored answer is the pick unless the confidence model
        finds the answer of another cluster, with no more weight behind it, more likely
        right by more than :data:`CLEARLY_MORE_LIKELY` (a strong member standing alone
        against weaker ones that agree): the answer shown is the one Quorum thinks most
        likely right.
        """
        rows = self.answer_rows(analysis)
        logits = tuple(
            self.score_answer(f) if analysis.informative[i] else -math.inf
            for i, f in enumerate(rows)
        )
        pick = pick_answer(analysis, logits, rows)
        decision = self._decision(analysis, pick, logits, rows)
        if not analysis.informative[pick]:
            return decision
        # Only answers with no more weight behind them than the pick's: the confidence
        # model learnt what a member's record is worth on picks of every kind, but what
        # agreement is worth only on the answers the answer model picked, so it never
        # brings back an agreement the answer model set aside (a shared misconception
        # against a denial).
        share = analysis.cluster_share(pick) + 1e-9
        rivals = (
            self._decision(analysis, leader, logits, rows)
            for label, leader in cluster_leaders(analysis, logits).items()
            if label != analysis.cluster_of[pick] and analysis.cluster_share(leader) <= share
        )
        best = max(rivals, key=lambda d: d.confidence, default=decision)
        return best if best.confidence > decision.confidence + CLEARLY_MORE_LIKELY else decision

    def _decision(
        self,
        analysis: PanelAnalysis,
        pick: int,
        logits: tuple[float, ...],
        rows: tuple[dict[str, float], ...],
    ) -> Decision:
        pick_logit = logits[pick] if math.isfinite(logits[pick]) else _NON_ANSWER_LOGIT
        features = panel_features(analysis, pick, logits, pick_logit, rows)
        return Decision(pick, logits, features, self.predict(features))

    # -- JSON ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "id": self.id,
            "answer_model": self.answer_model.to_dict(),
            "confidence_model": self.confidence_model.to_dict(),
            "members": {m: r.to_dict() for m, r in sorted(self.members.items())},
            "base_accuracy": self.base_accuracy,
            "provenance": dict(self.provenance),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: Any, where: str = "calibrator") -> Calibrator:
        if not isinstance(data, dict) or data.get("format") not in READABLE_FORMATS:
            raise CalibrationError(f"{where} is not a Quorum calibrator (format {FORMAT!r}).")
        provenance = data.get("provenance", {})
        if not isinstance(provenance, dict):
            raise CalibrationError(f"{where}: 'provenance' must be an object.")
        calibrator = cls(
            LinearModel.from_dict(data.get("answer_model"), f"{where}: answer_model"),
            LinearModel.from_dict(data.get("confidence_model"), f"{where}: confidence_model"),
            provenance,
            _members_from(data.get("members", {}), where),
            _base_accuracy_from(data.get("base_accuracy", 0.5), where),
        )
        if "id" in data and data["id"] != calibrator.id:
            raise CalibrationError(f"{where}: the id does not match its numbers (edited by hand?).")
        return calibrator

    def save(self, path: str | Path) -> None:
        """Write the JSON file whole or not at all (InputError when it cannot be written)."""
        write_text(path, self.to_json())


def _members_from(data: Any, where: str) -> dict[str, MemberRecord]:
    if not isinstance(data, dict):
        raise CalibrationError(f"{where}: 'members' must be an object.")
    members: dict[str, MemberRecord] = {}
    for name, record in data.items():
        try:
            right, answers = float(record["right"]), float(record["answers"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(
                f"{where}: member {name!r} needs numbers 'right' and 'answers'."
            ) from exc
        if not (math.isfinite(right) and math.isfinite(answers)) or not 0 <= right <= answers:
            raise CalibrationError(f"{where}: member {name!r} needs 0 <= right <= answers.")
        members[str(name)] = MemberRecord(right, answers)
    return members


def _base_accuracy_from(value: Any, where: str) -> float:
    try:
        base = float(value)
    except (TypeError, ValueError) as exc:
        raise CalibrationError(f"{where}: 'base_accuracy' must be a number.") from exc
    if not 0 < base < 1:
        raise CalibrationError(f"{where}: 'base_accuracy' must be between 0 and 1.")
    return base


#: A calibrator is a few kilobytes; anything this large is not one.
MAX_CALIBRATOR_BYTES = 16 * 1024 * 1024


def load_calibrator(path: str | Path) -> Calibrator:
    """Read a calibrator JSON file; a missing or malformed file raises CalibrationError."""
    p = Path(path)
    try:
        text = read_text(p, max_bytes=MAX_CALIBRATOR_BYTES)
    except InputError as exc:
        raise CalibrationError(f"Cannot read the calibrator file: {exc.user_message}") from exc
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
