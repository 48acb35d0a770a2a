"""The consensus over a panel's answers: which answer to show and how sure to be.

``build_consensus`` is pure and deterministic: the same answers (in any order), the
same embedder and calibrator always give the same result. Failed answers take no
part in the agreement but count in the confidence (fewer informative answers, less
evidence). Non-answers ("I have no comment", refusals, empty text) are never picked
while an informative answer exists.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from evals.consensus.agreement import PanelAnalysis, analyse_panel
from evals.consensus.calibrator import Calibrator
from evals.embedding.chunking import chunk_text
from evals.errors import InputError
from evals.protocols import Embedder, Vectors
from evals.records import Consensus, ConsensusStatus, ModelAnswer

#: With a single answer nothing was cross-checked: its confidence never exceeds this.
SINGLE_ANSWER_CAP = 0.35
#: Below this confidence a result whose models mostly agree says why the number is low.
LOW_CONFIDENCE = 0.5


def _none(reason: str, calibrator: Calibrator, features: Mapping[str, float]) -> Consensus:
    return Consensus.none(reason, calibrator=calibrator.id, features=features)


def _usable(answers: Sequence[ModelAnswer]) -> dict[str, ModelAnswer]:
    usable: dict[str, ModelAnswer] = {}
    for answer in sorted(answers, key=lambda a: a.member):
        if answer.member in usable and answer.ok:
            raise InputError(f"Member {answer.member!r} answered twice in one panel.")
        if answer.ok:
            usable[answer.member] = answer
    return usable


def prepare_answer(text: str, embedder: Embedder) -> None:
    """Embed one answer's chunks as soon as it arrives, so the final consensus only
    looks vectors up in the embedder's cache."""
    embedder.embed(chunk_text(text, embedder))


def _raw_confidence(analysis: PanelAnalysis, pick: int) -> float:
    """Uncalibrated agreement: the weighted share of usable answers in the pick's cluster."""
    if not analysis.informative[pick]:
        return 0.0
    return analysis.cluster_share(pick)


def build_consensus(
    answers: Sequence[ModelAnswer],
    embedder: Embedder,
    calibrator: Calibrator,
    *,
    weights: Mapping[str, float] | None = None,
    quorum: int = 2,
    question: str | None = None,
    vectors: Mapping[str, Vectors] | None = None,
) -> Consensus:
    """The consensus answer, its calibrated confidence, clusters, agreement and dissenters.

    ``weights`` maps member names to their weight (default 1). ``question`` is
    optional: when given, names and numbers it mentions do not count as facts
    the answers can disagree on, and it tells which kind of final answer (number,
    year, option letter, yes/no) the answers are compared on. ``vectors`` are chunk
    vectors embedded up front (see :func:`evals.embedding.chunking.embed_chunks`).
    """
    if quorum < 1:
        raise InputError("The quorum must be at least 1.")
    usable = _usable(answers)
    total = len({a.member for a in answers})
    base_features = {"answers": float(total), "usable_answers": float(len(usable))}
    if not usable:
        return _none(
            "No model gave a usable answer." if total else "There were no answers.",
            calibrator,
            base_features,
        )
    if 1 < len(usable) < quorum:
        return _none(
            f"Only {len(usable)} of {total} models answered; at least {quorum} are needed "
            "for a consensus.",
            calibrator,
            base_features,
        )

    analysis = analyse_panel(
        {m: a.text for m, a in usable.items()},
        embedder,
        question=question,
        weights=weights,
        total_answers=total,
        vectors=vectors,
    )
    decision = calibrator.decide(analysis)
    pick = decision.pick
    agreement = _agreement_with_pick(analysis, pick)
    clusters = tuple(
        tuple(analysis.members[i] for i in group) for group in analysis.cluster_members()
    )
    # One clustering drives everything a reader sees: every member outside the pick's
    # cluster dissents (a refusal included), every member inside it agrees.
    pick_cluster = analysis.cluster_of[pick]
    dissenters = tuple(
        m for i, m in enumerate(analysis.members) if analysis.cluster_of[i] != pick_cluster
    )
    features = {**base_features, **decision.features}
    features["informative_answers"] = float(analysis.informative.sum())
    rival = _rival_support(analysis, pick)
    features["rival_support"] = float(rival)
    confidence = decision.confidence
    status = ConsensusStatus.OK
    reason = ""
    if len(usable) == 1:
        status = ConsensusStatus.SINGLE
        confidence = min(confidence, SINGLE_ANSWER_CAP)
        reason = (
            f"Only one of {total} models answered, so nothing could be cross-checked; "
            "its confidence is capped low."
            if total > 1
            else "Only one model was asked, so nothing could be cross-checked; "
            "its confidence is capped low."
        )
    elif not analysis.informative.any():
        reason = "No model gave an informative answer (only refusals or non-answers)."
    support = len(analysis.same_cluster(pick))
    return Consensus(
        status=status,
        model=analysis.members[pick],
        text=usable[analysis.members[pick]].text,
        confidence=round(confidence, 6),
        raw_confidence=round(_raw_confidence(analysis, pick), 6),
        clusters=clusters,
        agreement=agreement,
        dissenters=dissenters,
        features=features,
        calibrator=calibrator.id,
        reason=reason,
        meaning=calibrator.meaning(confidence),
        caveat=(
            _outvoted(analysis, pick, rival, calibrator.member_logits(analysis))
            if rival > support and status is ConsensusStatus.OK
            else _caveat(analysis, pick, support, total, confidence, status)
        ),
    )


def _agreement_with_pick(analysis: PanelAnalysis, pick: int) -> dict[str, float]:
    """Each member's agreement with the consensus answer (1.0 for the pick itself): the
    same pairwise agreement the clustering read, so the same final answer scores 1.0 and
    a different one 0.0."""
    return {
        member: 1.0
        if i == pick
        else round(min(1.0, max(0.0, float(analysis.agreement[i, pick]))), 6)
        for i, member in enumerate(analysis.members)
    }


def _rival_support(analysis: PanelAnalysis, pick: int) -> int:
    """How many informative answers the biggest other cluster holds (0: none)."""
    return max(
        (
            sum(bool(analysis.informative[i]) for i in group)
            for group in analysis.cluster_members()
            if pick not in group
        ),
        default=0,
    )


def _outvoted(analysis: PanelAnalysis, pick: int, rival: int, reliability: Sequence[float]) -> str:
    """Why the answer shown has fewer models behind it than another one."""
    others = [
        reliability[i]
        for i in range(analysis.size)
        if analysis.informative[i] and analysis.cluster_of[i] != analysis.cluster_of[pick]
    ]
    if reliability[pick] > max(others, default=-math.inf):
        return (
            f"{analysis.members[pick]}'s record on labelled questions makes its answer more "
            f"likely right than the {rival} models that agree on another one."
        )
    return (
        "On labelled questions, answers like this one were right more often than "
        f"{rival} models agreeing on another answer."
    )


def _caveat(
    analysis: PanelAnalysis,
    pick: int,
    support: int,
    total: int,
    confidence: float,
    status: ConsensusStatus,
) -> str:
    """Why the confidence is low although most models agree ("" when it is not)."""
    if status is not ConsensusStatus.OK or confidence >= LOW_CONFIDENCE:
        return ""
    if support * 2 < total:
        return ""
    usable = analysis.size
    if usable < total:
        return f"Only {usable} of {total} models answered, so there was less to cross-check."
    if analysis.finals and analysis.finals[pick] is None:
        return (
            "Agreement on free-text answers is a weak signal: models often share the "
            "same misconception."
        )
    return "These models' record on labelled questions makes agreement weaker evidence here."
