"""AUROC, ECE, reliability table, Brier and pick accuracy summaries."""

from __future__ import annotations

import numpy as np
import pytest

from evals.consensus.quality_metrics import (
    PanelOutcome,
    auroc,
    brier,
    chance_ece,
    expected_calibration_error,
    reliability_table,
    summarise,
)


def test_auroc_ranks_and_refuses_one_class() -> None:
    assert auroc([False, False, True, True], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auroc([True, True, False, False], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert auroc([True, True], [0.1, 0.9]) is None
    assert auroc([], []) is None


def test_perfect_calibration_has_zero_ece() -> None:
    labels = [True] * 3 + [False] * 7 + [True] * 7 + [False] * 3
    probs = [0.3] * 10 + [0.7] * 10
    assert expected_calibration_error(labels, probs) == pytest.approx(0.0)


def test_overconfidence_shows_in_ece_and_the_table() -> None:
    labels = [True, False, False, False]
    probs = [0.95, 0.95, 0.95, 0.95]
    assert expected_calibration_error(labels, probs) == pytest.approx(0.70)
    table = reliability_table(labels, probs, bins=10)
    assert len(table) == 10
    assert sum(b.count for b in table) == 4
    top = table[-1]
    assert (top.count, top.mean_confidence, top.accuracy) == (4, 0.95, 0.25)
    assert table[0].low == 0.0 and table[-1].high == 1.0


def test_edges_fall_in_the_right_bins() -> None:
    table = reliability_table([True, False, True], [0.0, 0.1, 1.0], bins=10)
    assert table[0].count == 2  # 0.0 and 0.1 (bins are closed on the right)
    assert table[9].count == 1


def test_brier() -> None:
    assert brier([True, False], [1.0, 0.0]) == 0.0
    assert brier([True, False], [0.0, 1.0]) == 1.0
    assert brier([True], [0.5]) == 0.25


def test_summary_compares_with_random_and_oracle() -> None:
    outcomes = [
        PanelOutcome(pick_correct=True, confidence=0.8, fraction_correct=0.4, any_correct=True),
        PanelOutcome(pick_correct=False, confidence=0.3, fraction_correct=0.2, any_correct=True),
        PanelOutcome(pick_correct=False, confidence=0.2, fraction_correct=0.0, any_correct=False),
        PanelOutcome(pick_correct=True, confidence=0.6, fraction_correct=0.6, any_correct=True),
    ]
    m = summarise(outcomes)
    assert m.panels == 4
    assert m.pick_accuracy == 0.5
    assert m.random_pick_accuracy == pytest.approx(0.3)
    assert m.oracle_accuracy == 0.75
    assert m.lift_over_random == pytest.approx(0.2)
    assert m.auroc == 1.0
    assert m.to_dict()["reliability"][7]["count"] == 1  # 0.8 closes bin (0.7, 0.8]
    with pytest.raises(ValueError, match="no panels"):
        summarise([])


def test_chance_ece_is_the_floor_a_calibrated_confidence_shows_on_few_panels() -> None:
    rng = np.random.default_rng(3)
    probs = rng.uniform(0.1, 0.7, size=600).tolist()
    floor = chance_ece(probs)
    # Outcomes drawn from the confidences themselves: their ECE is near the floor.
    observed = [
        expected_calibration_error((rng.random(600) < probs).tolist(), probs) for _ in range(50)
    ]
    assert 0.02 < floor < 0.06
    assert float(np.mean(observed)) == pytest.approx(floor, abs=0.006)
    # More panels, a lower floor; certainty has none.
    assert chance_ece(probs * 10) < floor / 2
    assert chance_ece([0.0, 1.0] * 50) == 0.0
    assert chance_ece([]) == 0.0
