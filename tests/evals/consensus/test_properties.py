"""Rules that must hold for every panel: order never matters, a duplicate of the
consensus never weakens it, numbers stay in [0, 1], the answer shown is never less likely
right than the answer model's pick."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evals.consensus.agreement import analyse_panel
from evals.consensus.calibrator import CLEARLY_MORE_LIKELY, default_calibrator
from evals.consensus.decision import build_consensus
from evals.consensus.features import panel_features, pick_answer
from evals.records import ConsensusStatus, ErrorKind, ModelAnswer
from tests.fakes.embedder import FakeEmbedder

# A small vocabulary so panels have real clusters, conflicts and non-answers.
TEXTS = [
    "The answer is 42.",
    "The answer is 43.",
    "The answer is 42, as far as I know.",
    "Yes.",
    "No.",
    "Paris is the capital of France.",
    "Berlin is the capital of France.",
    "The capital of France is Paris.",
    "Cracking your knuckles does not cause arthritis.",
    "Cracking your knuckles causes arthritis.",
    "It might depend on the weather.",
    "What is the capital of France?",
    "I have no comment.",
    "I'm sorry, I can't help with that.",
    "",
    " ".join(f"Sentence {i} explains the long history of the bridge." for i in range(8)),
]

EMBEDDER = FakeEmbedder(max_tokens=24)
CALIBRATOR = default_calibrator()


@st.composite
def panels(draw: st.DrawFn) -> list[ModelAnswer]:
    n = draw(st.integers(min_value=1, max_value=7))
    answers = []
    for i in range(n):
        if draw(st.integers(0, 9)) == 0:
            answers.append(ModelAnswer(member=f"m{i}", model="x", error=ErrorKind.TIMEOUT))
        else:
            answers.append(
                ModelAnswer(member=f"m{i}", model="x", text=draw(st.sampled_from(TEXTS)))
            )
    return answers


weights_st = st.none() | st.dictionaries(
    st.sampled_from([f"m{i}" for i in range(7)]), st.floats(min_value=0.0, max_value=5.0)
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(panel=panels(), weights=weights_st, data=st.data())
def test_answer_order_never_changes_the_result(
    panel: list[ModelAnswer], weights: dict[str, float] | None, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(panel))
    first = build_consensus(panel, EMBEDDER, CALIBRATOR, weights=weights, quorum=1)
    second = build_consensus(shuffled, EMBEDDER, CALIBRATOR, weights=weights, quorum=1)
    assert first == second


@SETTINGS
@given(panel=panels(), weights=weights_st)
def test_numbers_stay_between_zero_and_one(
    panel: list[ModelAnswer], weights: dict[str, float] | None
) -> None:
    result = build_consensus(panel, EMBEDDER, CALIBRATOR, weights=weights)
    assert 0.0 <= result.confidence <= 1.0
    assert 0.0 <= result.raw_confidence <= 1.0
    assert all(0.0 <= v <= 1.0 for v in result.agreement.values())
    clustered = [m for cluster in result.clusters for m in cluster]
    assert sorted(clustered) == sorted(result.agreement)
    if result.status is not ConsensusStatus.NONE:
        assert result.model is not None and result.model in result.agreement
        assert result.agreement[result.model] == 1.0


@SETTINGS
@given(panel=panels())
def test_a_duplicate_of_the_consensus_never_weakens_it(panel: list[ModelAnswer]) -> None:
    before = build_consensus(panel, EMBEDDER, CALIBRATOR, quorum=1)
    if before.status is ConsensusStatus.NONE or before.model is None:
        return
    duplicate = ModelAnswer(member="zz-duplicate", model="x", text=before.text or "")
    after = build_consensus([*panel, duplicate], EMBEDDER, CALIBRATOR, quorum=1)
    assert after.text == before.text
    assert after.agreement[before.model] == 1.0
    assert after.raw_confidence >= before.raw_confidence - 1e-9
    for member, value in before.agreement.items():
        assert after.agreement[member] >= value - 1e-9


def test_a_vanishingly_small_weight_does_not_break_the_entropy() -> None:
    """Found by hypothesis: a weight of 5e-324 made a cluster share underflow to 0."""
    panel = [
        ModelAnswer(member="m0", model="x", text="The answer is 42."),
        ModelAnswer(member="m1", model="x", error=ErrorKind.TIMEOUT),
        ModelAnswer(member="m5", model="x", text="The answer is 43."),
    ]
    result = build_consensus(
        panel, EMBEDDER, CALIBRATOR, weights={"m0": 2.0, "m1": 0.0, "m5": 5e-324}, quorum=1
    )
    assert 0.0 <= result.confidence <= 1.0
    assert result.clusters == (("m0",), ("m5",))


@SETTINGS
@given(panel=panels(), weights=weights_st)
def test_what_a_reader_sees_comes_from_one_clustering(
    panel: list[ModelAnswer], weights: dict[str, float] | None
) -> None:
    """The pick, "N of M agree", the dissent list and the clusters never contradict."""
    result = build_consensus(panel, EMBEDDER, CALIBRATOR, weights=weights, quorum=1)
    if result.status is ConsensusStatus.NONE:
        assert result.dissenters == ()
        return
    pick_cluster = next(c for c in result.clusters if result.model in c)
    assert result.support == len(pick_cluster)
    assert not set(result.dissenters) & set(pick_cluster)
    outside = {m for c in result.clusters if c != pick_cluster for m in c}
    assert set(result.dissenters) == outside
    assert result.support + len(result.dissenters) == len(result.agreement)


# About 1 panel in 40 changes its pick here: enough examples that some do, every run.
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(panel=panels(), weights=weights_st)
def test_the_answer_shown_is_never_less_likely_right_than_the_answer_models_pick(
    panel: list[ModelAnswer], weights: dict[str, float] | None
) -> None:
    texts = {a.member: a.text for a in panel if a.ok}
    if not texts:
        return
    analysis = analyse_panel(texts, EMBEDDER, weights=weights)
    rows = CALIBRATOR.answer_rows(analysis)
    logits = tuple(
        CALIBRATOR.score_answer(r) if analysis.informative[i] else -math.inf
        for i, r in enumerate(rows)
    )
    first = pick_answer(analysis, logits, rows)
    decision = CALIBRATOR.decide(analysis)
    if decision.pick == first:
        return
    # Changed only for an answer clearly more likely right, with no more weight behind it.
    assert analysis.informative[decision.pick]
    assert analysis.cluster_of[decision.pick] != analysis.cluster_of[first]
    assert analysis.cluster_share(decision.pick) <= analysis.cluster_share(first) + 1e-9
    before = CALIBRATOR.predict(panel_features(analysis, first, logits, logits[first], rows))
    assert decision.confidence > before + CLEARLY_MORE_LIKELY
