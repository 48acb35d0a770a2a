"""Scoring a panel's answers: the features the calibrator's two models read, and the pick.

Given a :class:`~evals.consensus.agreement.PanelAnalysis` (who agrees with whom, the clusters,
what each answer's words say) and each member's reliability, these pure functions
build the answer model's features (one row per answer), choose the consensus answer
from its scores, and describe the panel and its pick for the confidence model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from evals.consensus.agreement import PanelAnalysis

#: Answer scores this close to the best are a tie, settled by agreement.
NEAR_TIE = 0.05
#: A member's reliability is used as log-odds, clipped to this range.
RELIABILITY_LOGIT_CLIP = 4.0

#: Features of one informative answer, in the order the answer model reads them.
ANSWER_FEATURES: tuple[str, ...] = (
    "support",
    "cluster_share",
    "reliability",
    "cluster_evidence",
    "final_missing",
    "denies_contested",
    "hedged_contested",
    "negated_contested",
    "support_contested",
    "share_contested",
    "negated",
    "hedged",
    "log_words",
    "question_echo",
    "disclaimed",
)
#: Answer features whose weight may not be negative: agreement and a member's record
#: are evidence, never a penalty. (In a panel split between affirming and denying, the
#: ``*_contested`` features let the fit discount agreement: shared misconceptions.)
MONOTONE_FEATURES: frozenset[str] = frozenset(
    {"support", "cluster_share", "reliability", "cluster_evidence"}
)
#: Features of the panel and its pick, read by the confidence model.
PANEL_FEATURES: tuple[str, ...] = (
    "pick_logit",
    "margin",
    "pick_cluster_share",
    "cluster_entropy",
    "informative_fraction",
    "decisive_share",
    "pick_reliability",
    "evidence_margin",
    "contested",
    "pick_denies_contested",
    "panel_reliability",
    "reliability_logit",
)
#: The confidence model may not lower confidence for a better-scored or better-supported pick.
MONOTONE_PANEL_FEATURES: frozenset[str] = frozenset(
    {"pick_logit", "margin", "pick_cluster_share", "informative_fraction"}
)


def _entropy(shares: Sequence[float], n: int) -> float:
    """Entropy of the cluster weight shares over ``n`` answers, normalised to [0, 1]
    (0: one cluster; 1: every answer on its own)."""
    positive = [s for s in shares if s > 0]
    if len(positive) <= 1 or n <= 1:
        return 0.0
    total = sum(positive)
    # A share can underflow to 0.0 once divided (a weight of 5e-324); 0·log 0 = 0.
    probs = [p for p in (s / total for s in positive) if p > 0]
    return min(1.0, -sum(p * math.log(p) for p in probs) / math.log(n))


def reliability_logit(accuracy: float) -> float:
    """A member's accuracy as clipped log-odds (0 for a coin flip)."""
    p = min(max(accuracy, 1e-6), 1 - 1e-6)
    value = math.log(p / (1 - p))
    return max(-RELIABILITY_LOGIT_CLIP, min(RELIABILITY_LOGIT_CLIP, value))


def answer_features(
    analysis: PanelAnalysis, reliability: Sequence[float]
) -> tuple[dict[str, float], ...]:
    """Features of each answer for the answer model.

    ``reliability`` is each member's learned log-odds of being right (0: no record),
    in member order. ``cluster_evidence`` adds up the reliability of the answer's
    cluster against the strongest other cluster, so a strong member is not outvoted
    by weaker ones unless their combined record says so.
    """
    n = analysis.size
    usable_weight = float(analysis.weights.sum())
    evidence_by_cluster: dict[int, float] = {}
    for j in range(n):
        if analysis.informative[j]:
            label = analysis.cluster_of[j]
            evidence_by_cluster[label] = evidence_by_cluster.get(label, 0.0) + reliability[j]
    stances = {
        analysis.content_features[j].get("denies", 0.0) for j in range(n) if analysis.informative[j]
    }
    contested = 1.0 if len(stances) > 1 else 0.0
    features: list[dict[str, float]] = []
    for i in range(n):
        others = [j for j in range(n) if j != i and analysis.informative[j]]
        support = (
            float(sum(analysis.weights[j] * analysis.agreement[i, j] for j in others))
            / usable_weight
            if analysis.informative[i]
            else 0.0
        )
        own = evidence_by_cluster.get(analysis.cluster_of[i], 0.0)
        rivals = [v for c, v in evidence_by_cluster.items() if c != analysis.cluster_of[i]]
        features.append(
            {
                "support": support,
                "cluster_share": analysis.cluster_share(i),
                "reliability": float(reliability[i]),
                "cluster_evidence": own - max(rivals, default=0.0),
                "final_missing": 1.0 if analysis.final_missing(i) else 0.0,
                "denies_contested": contested * analysis.content_features[i].get("denies", 0.0),
                "hedged_contested": contested * analysis.content_features[i]["hedged"],
                "negated_contested": contested * analysis.content_features[i]["negated"],
                "support_contested": contested * support,
                "share_contested": contested * analysis.cluster_share(i),
                **analysis.content_features[i],
            }
        )
    return tuple(features)


def panel_features(
    analysis: PanelAnalysis,
    pick: int,
    logits: Sequence[float],
    pick_logit: float,
    answer_rows: Sequence[Mapping[str, float]] = (),
) -> dict[str, float]:
    """Features of the panel and its pick, for the confidence model.

    ``margin`` is how far the pick's score is ahead of the best other informative
    answer (0 when there is none to compare with). ``decisive_share`` is the pick's
    cluster share when the pick states a final answer (agreement on a number, year,
    letter or yes/no is strong evidence; on free text it is weaker).
    """
    informative_idx = [i for i in range(analysis.size) if analysis.informative[i]]
    rivals = [float(logits[i]) for i in informative_idx if i != pick]
    margin = max(0.0, pick_logit - max(rivals)) if rivals and analysis.informative[pick] else 0.0
    shares: dict[int, float] = {}
    for i in informative_idx:
        label = analysis.cluster_of[i]
        shares[label] = shares.get(label, 0.0) + float(analysis.weights[i])
    share = analysis.cluster_share(pick) if analysis.informative[pick] else 0.0
    decisive = bool(analysis.finals) and analysis.finals[pick] is not None
    row = answer_rows[pick] if answer_rows else {}
    # How reliable the panel's members are on record (mean log-odds against an unknown
    # member): agreement among weak members is weaker evidence (they share mistakes), so
    # the confidence model gets the pick's score scaled by it as a feature of its own.
    records = (
        []
        if not answer_rows
        else [float(answer_rows[i].get("reliability", 0.0)) for i in informative_idx]
    )
    panel_reliability = sum(records) / len(records) if records else 0.0
    return {
        "pick_logit": pick_logit,
        "margin": margin,
        "pick_cluster_share": share,
        "cluster_entropy": _entropy(list(shares.values()), len(informative_idx)),
        "informative_fraction": len(informative_idx) / analysis.total_answers,
        "decisive_share": share if decisive else 0.0,
        "pick_reliability": float(row.get("reliability", 0.0)),
        "evidence_margin": float(row.get("cluster_evidence", 0.0)),
        "contested": 1.0
        if row.get("support_contested", 0.0) or row.get("denies_contested", 0.0)
        else 0.0,
        "pick_denies_contested": float(row.get("denies_contested", 0.0)),
        "panel_reliability": panel_reliability,
        "reliability_logit": panel_reliability * pick_logit,
    }


def cluster_leaders(analysis: PanelAnalysis, logits: Sequence[float]) -> dict[int, int]:
    """Each cluster's best-scored informative answer (ties: the first member by name),
    by cluster label; clusters of non-answers are left out."""
    leaders: dict[int, int] = {}
    for i in range(analysis.size):
        if analysis.informative[i]:
            label = analysis.cluster_of[i]
            if label not in leaders or float(logits[i]) > float(logits[leaders[label]]):
                leaders[label] = i
    return leaders


def pick_answer(
    analysis: PanelAnalysis,
    logits: Sequence[float],
    answer_rows: Sequence[Mapping[str, float]] = (),
) -> int:
    """The consensus pick: the best-scored informative answer.

    Answers scored within :data:`NEAR_TIE` of the best count as tied (the scorer
    cannot really tell them apart); among those the bigger cluster wins, then the
    higher support, then the member name. With no informative answer, the biggest
    cluster of non-answers is returned.
    """
    candidates = [i for i in range(analysis.size) if analysis.informative[i]]
    if candidates:
        best = max(float(logits[i]) for i in candidates)
        candidates = [i for i in candidates if float(logits[i]) >= best - NEAR_TIE]
    else:
        candidates = list(range(analysis.size))

    def rank(i: int) -> tuple[float, float, float, str]:
        support = float(answer_rows[i]["support"]) if answer_rows else 0.0
        return (
            -round(analysis.cluster_share(i), 9),
            -round(support, 9),
            -round(float(logits[i]), 9) if analysis.informative[i] else 0.0,
            analysis.members[i],
        )

    return min(candidates, key=rank)
