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
    content_words,
    hedge_count,
    is_negated,
    is_non_answer,
    is_question_echo,
    key_facts,
    overlap,
    words,
)
from evals.chunking import chunk_text
from evals.errors import InputError
from evals.final_answer import AnswerKind, FinalAnswer, expected_kind, extract_final
from evals.ports import Embedder

FloatArray = npt.NDArray[np.float64]

#: Each contradicted kind of key fact multiplies a pair's similarity by this.
CONFLICT_FACTOR = 0.5
#: Two answers (average linkage) belong to one cluster at or above this agreement.
CLUSTER_THRESHOLD = 0.5

#: Answer scores this close to the best are a tie, settled by agreement.
NEAR_TIE = 0.05
#: Where the question asks for a number, year or option letter and only one of two
#: answers gives one, they cannot be confirmed to agree: their similarity is capped here.
UNCONFIRMED_CAP = 0.5
LEXICAL_WEIGHT = 0.5
#: Answers of at most this many words are compared on all their key facts.
SHORT_ANSWER_WORDS = 30
#: Chunks of two long answers this similar say the same thing, so their facts must match.
ALIGNED_CHUNK = 0.9
#: Final-answer kinds an answer is expected to state (a yes/no answer may be implicit).
_STATED_KINDS = frozenset({AnswerKind.LETTER, AnswerKind.NUMBER, AnswerKind.YEAR})
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
)
#: Answer features whose weight may not be negative: agreement and a member's record
#: are evidence, never a penalty (so adding a duplicate of the pick can never demote it).
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
    content_features: tuple[Mapping[str, float], ...]  # what each answer's words say
    total_answers: int  # usable + failed
    finals: tuple[FinalAnswer | None, ...] = ()  # the final answer each one states
    expected: AnswerKind | None = None  # the kind of final answer the question asks for
    similarity: FloatArray | None = None  # plain chunked embedding similarity, before rules

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
        return float(self.weights[self.same_cluster(i)].sum()) / total

    def same_cluster(self, i: int) -> list[int]:
        """Indexes of the members in ``i``'s cluster (``i`` included)."""
        return [j for j, c in enumerate(self.cluster_of) if c == self.cluster_of[i]]

    def final_missing(self, i: int) -> bool:
        """The question asks for a number, year or letter and answer ``i`` states none."""
        return self.expected in _STATED_KINDS and not self.finals[i]


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
    vectors: Mapping[str, npt.NDArray[np.float32]] | None = None,
) -> PanelAnalysis:
    """Similarities, clusters and per-answer features of the usable answers.

    ``vectors`` (chunk -> vector, from :func:`~evals.chunking.embed_chunks`) spares
    the embedder when a whole file of panels was embedded up front.
    """
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

    # One embedding call for every chunk of every answer (or none, when given vectors).
    chunk_lists = [chunk_text(t, embedder) for t in texts]
    flat = [c for chunks in chunk_lists for c in chunks]
    if vectors is not None and all(c in vectors for c in flat):
        all_vecs = np.stack([vectors[c] for c in flat]).astype(np.float64)
    else:
        all_vecs = embedder.embed(flat).astype(np.float64)
    chunk_vecs: list[FloatArray] = []
    start = 0
    for chunks in chunk_lists:
        chunk_vecs.append(all_vecs[start : start + len(chunks)])
        start += len(chunks)
    q_text = (question or "").strip()
    expected = expected_kind(q_text)
    finals = tuple(
        extract_final(t, q_text) if ok else None for t, ok in zip(texts, informative, strict=True)
    )

    facts = [key_facts(t, q_text) for t in texts]
    vocab = [content_words(t, q_text) for t in texts]
    short = [len(words(t)) <= SHORT_ANSWER_WORDS for t in texts]
    n = len(members)

    def _conflicts(i: int, j: int) -> int:
        """Contradicted key facts: over whole answers when both are short (the answer is
        its facts); in long ones only between near-identical chunks ("the same sentence
        with another number"), so incidental details elsewhere never split them."""
        if short[i] and short[j]:
            return conflicts(facts[i], facts[j])
        sims = chunk_vecs[i] @ chunk_vecs[j].T
        worst = 0
        for a, b in zip(*np.nonzero(sims >= ALIGNED_CHUNK), strict=True):
            fa = key_facts(chunk_lists[i][a], q_text)
            fb = key_facts(chunk_lists[j][b], q_text)
            worst = max(worst, conflicts(fa, fb))
        return worst

    similarity = np.eye(n, dtype=np.float64)
    agreement = np.eye(n, dtype=np.float64)
    for i in range(n):
        for j in range(i + 1, n):
            similarity[i, j] = similarity[j, i] = answer_similarity(chunk_vecs[i], chunk_vecs[j])
            if texts[i].strip() == texts[j].strip():
                sim = 1.0
            elif informative[i] != informative[j]:
                sim = 0.0  # a non-answer agrees with no informative answer
            else:
                sim = _pair_agreement(
                    finals[i],
                    finals[j],
                    expected,
                    float(similarity[i, j]),
                    _conflicts(i, j),
                    vocab[i],
                    vocab[j],
                )
            agreement[i, j] = agreement[j, i] = sim

    content = tuple(
        {
            "negated": 1.0 if is_negated(t) else 0.0,
            "hedged": 1.0 if hedge_count(t) else 0.0,
            "log_words": math.log1p(len(words(t))),
            "question_echo": 1.0 if is_question_echo(t) else 0.0,
            "denies": 1.0 if f.stance < 0 else 0.0,
        }
        for t, f in zip(texts, facts, strict=True)
    )
    return PanelAnalysis(
        members=members,
        texts=texts,
        weights=weight_arr,
        informative=informative,
        agreement=agreement,
        cluster_of=_cluster(agreement),
        content_features=content,
        total_answers=max(total_answers or n, n),
        finals=finals,
        expected=expected,
        similarity=similarity,
    )


def _pair_agreement(
    final_a: FinalAnswer | None,
    final_b: FinalAnswer | None,
    expected: AnswerKind | None,
    sim: float,
    contradicted: int,
    words_a: frozenset[str] = frozenset(),
    words_b: frozenset[str] = frozenset(),
) -> float:
    """How much two informative answers agree, in [0, 1].

    The same stated final answer (number, year, letter, yes/no) is full agreement and a
    different one none, whatever else either answer says. Otherwise the chunked
    embedding similarity decides, scaled down for each contradicted key fact; where the
    question asks for a number, year or letter and only one answer gives one, the two
    cannot be confirmed to agree (capped at :data:`UNCONFIRMED_CAP`).
    """
    if final_a and final_b and final_a.kind == final_b.kind:
        return 1.0 if final_a.value == final_b.value else 0.0
    if expected in _STATED_KINDS and (final_a is None) != (final_b is None):
        return min(sim, UNCONFIRMED_CAP)
    if LEXICAL_WEIGHT:
        sim = (1 - LEXICAL_WEIGHT) * sim + LEXICAL_WEIGHT * overlap(words_a, words_b)
    return sim * CONFLICT_FACTOR**contradicted


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
    }


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
