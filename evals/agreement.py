"""How much a panel's answers agree: similarity, key-fact conflicts, clusters, features.

Pure functions over an :class:`~evals.ports.Embedder`. Answers are compared chunk by
chunk (nothing is cut at the embedder's window); contradicting key facts (numbers,
yes/no, negation, names) scale a pair's similarity down; non-answers never agree with
an informative answer. The result, a :class:`PanelAnalysis`, carries the raw features
the calibrator turns into probabilities. Members are processed in name order so the
order the answers arrived in never changes anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from evals.answer_features import (
    conflicts,
    hedge_count,
    is_negated,
    is_non_answer,
    is_question_echo,
    key_facts,
    words,
)
from evals.chunking import chunk_text
from evals.errors import InputError
from evals.ports import Embedder

FloatArray = npt.NDArray[np.float64]

#: Each contradicted kind of key fact multiplies a pair's similarity by this.
CONFLICT_FACTOR = 0.5
#: Two answers (average linkage) belong to one cluster at or above this agreement.
CLUSTER_THRESHOLD = 0.7

#: Answer scores this close to the best are a tie, settled by agreement.
NEAR_TIE = 0.05

#: Features of one informative answer, in the order the answer model reads them.
ANSWER_FEATURES: tuple[str, ...] = (
    "support",
    "cluster_share",
    "negated",
    "hedged",
    "log_words",
    "question_echo",
)
#: Answer features whose weight may not be negative: agreement is evidence, never a
#: penalty (so adding a duplicate of the pick can never demote it).
MONOTONE_FEATURES: frozenset[str] = frozenset({"support", "cluster_share"})
#: Features of the panel and its pick, read by the confidence model.
PANEL_FEATURES: tuple[str, ...] = (
    "pick_logit",
    "margin",
    "pick_cluster_share",
    "cluster_entropy",
    "informative_fraction",
)


@dataclass(frozen=True)
class PanelAnalysis:
    """Agreement structure of the usable answers of one panel (members in name order)."""

    members: tuple[str, ...]
    texts: tuple[str, ...]
    weights: FloatArray
    informative: npt.NDArray[np.bool_]
    agreement: FloatArray  # members x members, adjusted similarity in [0, 1]
    cluster_of: tuple[int, ...]  # cluster label per member
    answer_features: tuple[Mapping[str, float], ...]
    total_answers: int  # usable + failed

    @property
    def size(self) -> int:
        return len(self.members)

    def cluster_members(self) -> list[list[int]]:
        """Clusters as member index lists: biggest weight first, then by first name."""
        groups: dict[int, list[int]] = {}
        for i, label in enumerate(self.cluster_of):
            groups.setdefault(label, []).append(i)
        return sorted(
            groups.values(),
            key=lambda g: (-float(self.weights[g].sum()), self.members[g[0]]),
        )

    def cluster_share(self, i: int) -> float:
        total = float(self.weights.sum())
        if total <= 0:
            return 0.0
        same = [j for j, c in enumerate(self.cluster_of) if c == self.cluster_of[i]]
        return float(self.weights[same].sum()) / total


def answer_similarity(chunks_a: FloatArray, chunks_b: FloatArray) -> float:
    """Chunk-level similarity: each chunk's best match on the other side, averaged both ways."""
    sims = chunks_a @ chunks_b.T
    forward = float(sims.max(axis=1).mean())
    backward = float(sims.max(axis=0).mean())
    return max(0.0, min(1.0, 0.5 * (forward + backward)))


def _cluster(agreement: FloatArray) -> tuple[int, ...]:
    n = agreement.shape[0]
    if n == 1:
        return (0,)
    distance = 1.0 - agreement
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    labels = fcluster(tree, t=1.0 - CLUSTER_THRESHOLD, criterion="distance")
    # Relabel by first appearance so labels do not depend on scipy's numbering.
    seen: dict[int, int] = {}
    return tuple(seen.setdefault(int(label), len(seen)) for label in labels)


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


def analyse_panel(
    texts_by_member: Mapping[str, str],
    embedder: Embedder,
    *,
    question: str | None = None,
    weights: Mapping[str, float] | None = None,
    total_answers: int | None = None,
) -> PanelAnalysis:
    """Similarities, clusters and per-answer features of the usable answers."""
    members = tuple(sorted(texts_by_member))
    if not members:
        raise InputError("There are no answers to compare.")
    texts = tuple(texts_by_member[m] for m in members)
    weight_list = [float((weights or {}).get(m, 1.0)) for m in members]
    if any(not math.isfinite(w) or w < 0 for w in weight_list):
        raise InputError("Member weights must be finite numbers of 0 or more.")
    weight_arr = np.asarray(weight_list, dtype=np.float64)
    if weight_arr.sum() <= 0:
        weight_arr = np.ones(len(members), dtype=np.float64)
    informative = np.asarray([not is_non_answer(t) for t in texts], dtype=np.bool_)

    # One embedding call for every chunk of every answer.
    chunk_lists = [chunk_text(t, embedder) for t in texts]
    vectors = embedder.embed([c for chunks in chunk_lists for c in chunks]).astype(np.float64)
    chunk_vecs: list[FloatArray] = []
    start = 0
    for chunks in chunk_lists:
        chunk_vecs.append(vectors[start : start + len(chunks)])
        start += len(chunks)
    q_text = (question or "").strip()

    facts = [key_facts(t, q_text) for t in texts]
    n = len(members)
    agreement = np.eye(n, dtype=np.float64)
    for i in range(n):
        for j in range(i + 1, n):
            if texts[i].strip() == texts[j].strip():
                sim = 1.0
            elif informative[i] != informative[j]:
                sim = 0.0  # a non-answer agrees with no informative answer
            else:
                sim = answer_similarity(chunk_vecs[i], chunk_vecs[j])
                sim *= CONFLICT_FACTOR ** conflicts(facts[i], facts[j])
            agreement[i, j] = agreement[j, i] = sim

    cluster_of = _cluster(agreement)
    usable_weight = float(weight_arr.sum())
    features: list[Mapping[str, float]] = []
    for i in range(n):
        others = [j for j in range(n) if j != i and informative[j]]
        support = (
            float(sum(weight_arr[j] * agreement[i, j] for j in others)) / usable_weight
            if informative[i]
            else 0.0
        )
        same = [j for j in range(n) if cluster_of[j] == cluster_of[i]]
        features.append(
            {
                "support": support,
                "cluster_share": float(weight_arr[same].sum()) / usable_weight,
                "negated": 1.0 if is_negated(texts[i]) else 0.0,
                "hedged": 1.0 if hedge_count(texts[i]) else 0.0,
                "log_words": math.log1p(len(words(texts[i]))),
                "question_echo": 1.0 if is_question_echo(texts[i]) else 0.0,
            }
        )
    return PanelAnalysis(
        members=members,
        texts=texts,
        weights=weight_arr,
        informative=informative,
        agreement=agreement,
        cluster_of=cluster_of,
        answer_features=tuple(features),
        total_answers=max(total_answers or n, n),
    )


def panel_features(
    analysis: PanelAnalysis, pick: int, logits: Sequence[float], pick_logit: float
) -> dict[str, float]:
    """Features of the panel and its pick, for the confidence model.

    ``margin`` is how far the pick's score is ahead of the best other informative
    answer (0 when there is none to compare with).
    """
    informative_idx = [i for i in range(analysis.size) if analysis.informative[i]]
    rivals = [float(logits[i]) for i in informative_idx if i != pick]
    margin = max(0.0, pick_logit - max(rivals)) if rivals and analysis.informative[pick] else 0.0
    shares: dict[int, float] = {}
    for i in informative_idx:
        label = analysis.cluster_of[i]
        shares[label] = shares.get(label, 0.0) + float(analysis.weights[i])
    return {
        "pick_logit": pick_logit,
        "margin": margin,
        "pick_cluster_share": analysis.cluster_share(pick) if analysis.informative[pick] else 0.0,
        "cluster_entropy": _entropy(list(shares.values()), len(informative_idx)),
        "informative_fraction": len(informative_idx) / analysis.total_answers,
    }


def pick_answer(analysis: PanelAnalysis, logits: Sequence[float]) -> int:
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
        f = analysis.answer_features[i]
        return (
            -round(analysis.cluster_share(i), 9),
            -round(f["support"], 9),
            -round(float(logits[i]), 9) if analysis.informative[i] else 0.0,
            analysis.members[i],
        )

    return min(candidates, key=rank)
