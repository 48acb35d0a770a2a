"""The answer shown is the one the calibrator finds most likely right: the confidence
model can overrule the answer model's pick when another cluster's answer is clearly more
likely right (a strong member alone against weaker ones that agree), never on a near tie."""

from __future__ import annotations

import pytest

from evals.consensus.agreement import analyse_panel
from evals.consensus.calibrator import CLEARLY_MORE_LIKELY, Calibrator, LinearModel, MemberRecord
from evals.consensus.decision import build_consensus
from evals.records import ModelAnswer
from tests.fakes.embedder import FakeEmbedder

QUESTION = "How many widgets are in the crate?"
TEXTS = {"strong": "There are 12 widgets.", "weak1": "I count 7 widgets.", "weak2": "It holds 7."}
RECORDS = {
    "strong": MemberRecord(right=95, answers=100),
    "weak1": MemberRecord(right=40, answers=100),
    "weak2": MemberRecord(right=40, answers=100),
}


def _model(feature: str, coef: float) -> LinearModel:
    return LinearModel((feature,), (0.0,), (1.0,), (coef,), 0.0)


def calibrator(record_weight: float, records: dict[str, MemberRecord] = RECORDS) -> Calibrator:
    """The answer model follows agreement only; the confidence model weighs the pick's
    member record by ``record_weight``."""
    return Calibrator(
        answer_model=_model("support", 5.0),
        confidence_model=_model("pick_reliability", record_weight),
        members=records,
        base_accuracy=0.6,
    )


def test_a_strong_member_alone_is_shown_when_it_is_clearly_more_likely_right() -> None:
    analysis = analyse_panel(TEXTS, FakeEmbedder(), question=QUESTION)
    assert analysis.cluster_of[1] == analysis.cluster_of[2] != analysis.cluster_of[0]
    strong = calibrator(1.0)
    # The answer model alone scores the agreeing pair higher ...
    rows = strong.answer_rows(analysis)
    assert strong.score_answer(rows[1]) > strong.score_answer(rows[0])
    decision = strong.decide(analysis)
    # ... but the confidence model finds the strong member's answer more likely right.
    assert analysis.members[decision.pick] == "strong"
    assert decision.confidence > 0.8
    assert decision.features["pick_cluster_share"] == pytest.approx(1 / 3)


def test_a_near_tie_stays_with_the_agreement() -> None:
    analysis = analyse_panel(TEXTS, FakeEmbedder(), question=QUESTION)
    # The record barely moves the confidence: the strong answer is more likely right,
    # but by less than CLEARLY_MORE_LIKELY.
    faint = calibrator(0.05)
    decision = faint.decide(analysis)
    assert analysis.members[decision.pick] == "weak1"
    rows = faint.answer_rows(analysis)
    logits = tuple(faint.score_answer(r) for r in rows)
    strong = faint._decision(analysis, 0, logits, rows)
    assert 0 < strong.confidence - decision.confidence <= CLEARLY_MORE_LIKELY


def test_the_consensus_says_why_the_answer_shown_has_fewer_models_behind_it() -> None:
    answers = [ModelAnswer(member=m, model=m, text=t) for m, t in TEXTS.items()]
    result = build_consensus(answers, FakeEmbedder(), calibrator(1.0), question=QUESTION)
    assert result.model == "strong" and result.text == TEXTS["strong"]
    assert result.dissenters == ("weak1", "weak2")
    assert result.support == 1 and result.features["rival_support"] == 2
    assert result.caveat == (
        "strong's record on labelled questions makes its answer more likely right than the "
        "2 models that agree on another one."
    )
    # When the pick's own record is not the best, the reason is the kind of answer.
    even = {m: MemberRecord(right=60, answers=100) for m in TEXTS}
    negated = Calibrator(
        answer_model=_model("support", -5.0),  # a hand-made model that prefers the lone answer
        confidence_model=_model("pick_logit", 1.0),
        members=even,
        base_accuracy=0.6,
    )
    alone = build_consensus(answers, FakeEmbedder(), negated, question=QUESTION)
    assert alone.model == "strong" and alone.features["rival_support"] == 2
    assert alone.caveat == (
        "On labelled questions, answers like this one were right more often than 2 models "
        "agreeing on another answer."
    )


def test_a_pick_with_the_most_models_behind_it_has_no_rival_note() -> None:
    answers = [ModelAnswer(member=m, model=m, text=t) for m, t in TEXTS.items()]
    result = build_consensus(answers, FakeEmbedder(), calibrator(0.05), question=QUESTION)
    assert result.model == "weak1" and result.support == 2
    assert result.features["rival_support"] == 1
    assert "agree on another" not in result.caveat
