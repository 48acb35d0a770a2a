"""Refitting the confidence calibrator from production labels."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from evals.consensus.calibrator import Calibrator, LinearModel, MemberRecord
from evals.consensus.features import ANSWER_FEATURES, PANEL_FEATURES
from evals.consensus.refit import Label, refit_calibrator

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def linear(features: tuple[str, ...], coef: dict[str, float], intercept: float) -> LinearModel:
    return LinearModel(
        features=features,
        mean=tuple(0.5 for _ in features),
        scale=tuple(0.25 for _ in features),
        coef=tuple(coef.get(f, 0.0) for f in features),
        intercept=intercept,
    )


@pytest.fixture
def current() -> Calibrator:
    """Confident whenever most of the panel agrees with the pick."""
    return Calibrator(
        answer_model=linear(ANSWER_FEATURES, {"support": 1.0}, 0.0),
        confidence_model=linear(PANEL_FEATURES, {"pick_cluster_share": 2.0}, 1.0),
        provenance={"data_file": "dev.jsonl"},
    )


def features(share: float) -> dict[str, float]:
    return {
        "pick_logit": 0.0,
        "pick_cluster_share": share,
        "cluster_entropy": 1.0 - share,
        "informative_fraction": 1.0,
    }


def labels(n: int, rule: object, *, start: datetime, seed: int = 1) -> list[Label]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        share = rng.random()
        out.append(
            Label(features(share), bool(rule(share, rng)), start + timedelta(hours=i))  # type: ignore[operator]
        )
    return out


def test_too_few_labels_keeps_the_calibrator(current: Calibrator) -> None:
    result = refit_calibrator(current, labels(49, lambda s, r: s > 0.5, start=NOW), now=NOW)
    assert not result.refitted
    assert result.calibrator is current
    assert result.reason == "only 49 production label(s); 50 needed to refit"


def test_min_labels_is_configurable(current: Calibrator) -> None:
    result = refit_calibrator(
        current, labels(49, lambda s, r: s > 0.5, start=NOW), now=NOW, min_labels=200
    )
    assert result.reason == "only 49 production label(s); 200 needed to refit"


def test_refit_adopted_when_it_predicts_held_out_labels_better(current: Calibrator) -> None:
    # In production, people only agree when nearly the whole panel agrees: the current
    # calibrator is overconfident in the middle.
    data = labels(200, lambda s, r: r.random() < (0.9 if s > 0.8 else 0.1), start=NOW)
    result = refit_calibrator(current, data, now=NOW)
    assert result.refitted, result.reason
    assert result.n_labels == 200 and result.n_holdout == 60
    assert result.new_brier is not None and result.old_brier is not None
    assert result.new_brier < result.old_brier
    new = result.calibrator
    assert new.id != current.id
    assert new.answer_model == current.answer_model  # only the confidence model changes
    assert new.provenance["refit"]["from"] == current.id
    assert new.provenance["refit"]["labels"] == 200
    assert new.provenance["data_file"] == "dev.jsonl"
    assert new.predict(features(0.6)) < current.predict(features(0.6))
    assert result.reason.startswith("refitted on 200 production labels")
    assert result.metrics()["brier_new"] == result.new_brier


def test_refit_rejected_when_worse_on_the_newest_labels(current: Calibrator) -> None:
    # Older labels say the opposite of what the newest ones (and the current calibrator) say.
    old = labels(140, lambda s, r: s < 0.5, start=NOW - timedelta(days=30))
    new = labels(60, lambda s, r: s > 0.5, start=NOW, seed=2)
    result = refit_calibrator(current, old + new, now=NOW)
    assert not result.refitted
    assert result.calibrator is current
    assert result.new_brier is not None and result.old_brier is not None
    assert result.new_brier > result.old_brier
    assert "scored worse on the 60 newest labels" in result.reason


def test_labels_of_one_kind_cannot_be_fitted(current: Calibrator) -> None:
    result = refit_calibrator(current, labels(80, lambda s, r: True, start=NOW), now=NOW)
    assert not result.refitted
    assert result.calibrator is current
    assert "both right and wrong" in result.reason


def test_a_refit_adds_production_labels_to_the_members_records(current: Calibrator) -> None:
    """A judged consensus counts for every member that gave that answer."""
    data = labels(200, lambda s, r: r.random() < (0.9 if s > 0.8 else 0.1), start=NOW)
    judged = [
        Label(x.features, x.correct, x.created_at, ("strong", "weak") if i % 2 else ("weak",))
        for i, x in enumerate(data)
    ]
    before = Calibrator(
        current.answer_model,
        current.confidence_model,
        current.provenance,
        members={"strong": MemberRecord(9, 10)},
        base_accuracy=0.6,
    )
    result = refit_calibrator(before, judged, now=NOW)
    assert result.refitted, result.reason
    records = result.calibrator.members
    right = sum(x.correct for x in judged[1::2])
    assert records["strong"] == MemberRecord(9 + right, 10 + 100)
    assert records["weak"] == MemberRecord(sum(x.correct for x in judged), 200)
    assert result.calibrator.reliability("weak") < before.reliability("weak")
