"""How much a panel's answers agree, and the one clustering everything else reads.

Pure functions over an :class:`~evals.protocols.Embedder`. Two answers that state a final
answer of the same kind (:mod:`evals.consensus.final_answer`) agree exactly when it is the same.
Otherwise they are compared chunk by chunk (nothing is cut at the embedder's window),
blended with how much content they share, and contradicted key facts (numbers, yes/no,
negation, names) scale their agreement down; non-answers never agree with an
informative answer. The result, a :class:`PanelAnalysis`, carries the clusters and what
each answer's words say; :mod:`evals.consensus.features` turns it into features. Members are
processed in name order so the order the answers arrived in never changes anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from evals.consensus.answer_span import AnswerSpan, answer_span, same_entity, strip_heading_echo
from evals.consensus.final_answer import (
    AnswerKind,
    FinalAnswer,
    expected_kind,
    extract_final,
    same_final,
)
from evals.consensus.wording import (
    answer_body,
    conflicts,
    content_words,
    hedge_count,
    is_negated,
    is_non_answer,
    is_question_echo,
    key_facts,
    overlap,
    tidy_text,
    words,
)
from evals.embedding.chunking import chunk_text
from evals.errors import InputError
from evals.protocols import Embedder

FloatArray = npt.NDArray[np.float64]

#: Each contradicted kind of key fact multiplies a pair's similarity by this.
CONFLICT_FACTOR = 0.5
#: Two answers (average linkage) belong to one cluster at or above this agreement.
CLUSTER_THRESHOLD = 0.5

#: Where the question asks for a number, year or option letter and only one of two
#: answers gives one, they cannot be confirmed to agree: their agreement is capped at the
#: clustering threshold (they may share a cluster only at its weakest link).
UNCONFIRMED_CAP = CLUSTER_THRESHOLD
#: Share of a free-text pair's agreement that comes from shared content words (the rest
#: from embeddings): embeddings see "retry in a tight loop" and "back off" as close.
LEXICAL_WEIGHT = 0.5
#: Answers of at most this many words are compared on all their key facts.
SHORT_ANSWER_WORDS = 30
#: Chunks of two long answers this similar say the same thing, so their facts must match.
ALIGNED_CHUNK = 0.9
#: Final-answer kinds an answer is expected to state (a yes/no answer may be implicit).
_STATED_KINDS = frozenset({AnswerKind.LETTER, AnswerKind.NUMBER, AnswerKind.YEAR})


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
    spans: tuple[AnswerSpan, ...] = ()  # what each answer's first claim names

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
    # Lazy: scipy.cluster (with scipy.spatial and scipy.stats) takes ~0.45 s to import and
    # commands that never build a consensus skip it (fast CLI start).
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    tree = linkage(squareform(distance, checks=False), method="average")
    labels = fcluster(tree, t=1.0 - CLUSTER_THRESHOLD, criterion="distance")
    # Relabel by first appearance so labels do not depend on scipy's numbering.
    seen: dict[int, int] = {}
    return tuple(seen.setdefault(int(label), len(seen)) for label in labels)


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

    ``vectors`` (chunk -> vector, from :func:`~evals.embedding.chunking.embed_chunks`) spares
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
    # What each answer says once an opening disclaimer it sets aside is dropped ("As an
    # AI language model, I can't browse. However, it opened in 1998." says "1998").
    said = [tidy_text(answer_body(t)) for t in texts]
    finals = tuple(
        extract_final(t, q_text) if ok else None for t, ok in zip(said, informative, strict=True)
    )

    bodies = [strip_heading_echo(t, q_text) for t in said]
    facts = [key_facts(t, q_text) for t in bodies]
    vocab = [content_words(t, q_text) for t in bodies]
    # The same words in the same order are the same answer, whatever the case and
    # punctuation ("Padawan." and "padawan": their content words, the question's, are none).
    wording = [tuple(w.lower() for w in words(t)) for t in said]
    # The span is relative to the question: without one, the thing an answer is about
    # ("The Eiffel Tower was completed in 1901") cannot be told from what it answers.
    spans = [answer_span(t, q_text) for t in bodies] if q_text else []
    short = [len(words(t)) <= SHORT_ANSWER_WORDS for t in said]
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
            if texts[i].strip() == texts[j].strip() or (wording[i] and wording[i] == wording[j]):
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
                    (spans[i], spans[j]) if spans else None,
                    facts[i].stance * facts[j].stance < 0,
                )
            agreement[i, j] = agreement[j, i] = sim

    content = tuple(
        {
            "negated": 1.0 if is_negated(t) else 0.0,
            "hedged": 1.0 if hedge_count(t) else 0.0,
            "log_words": math.log1p(len(words(t))),
            "question_echo": 1.0 if is_question_echo(t) else 0.0,
            "denies": 1.0 if f.stance < 0 else 0.0,
            # It opened by disclaiming ("As an AI language model, … However, …"): less
            # committed than an answer that just says it.
            "disclaimed": 1.0 if answer_body(original) != original else 0.0,
        }
        for t, original, f in zip(said, texts, facts, strict=True)
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
        spans=tuple(spans),
    )


def _pair_agreement(
    final_a: FinalAnswer | None,
    final_b: FinalAnswer | None,
    expected: AnswerKind | None,
    sim: float,
    contradicted: int,
    words_a: frozenset[str] = frozenset(),
    words_b: frozenset[str] = frozenset(),
    spans: tuple[AnswerSpan, AnswerSpan] | None = None,
    stance_clash: bool = False,
) -> float:
    """How much two informative answers agree, in [0, 1].

    The same stated final answer (number, year, letter, yes/no) is full agreement and a
    different one none, whatever else either answer says. Otherwise the chunked
    embedding similarity decides, scaled down for each contradicted key fact; where the
    question asks for a number, year or letter and only one answer gives one, the two
    cannot be confirmed to agree (capped at :data:`UNCONFIRMED_CAP`).
    """
    if final_a and final_b and final_a.kind == final_b.kind:
        return 1.0 if same_final(final_a, final_b) else 0.0
    if expected in _STATED_KINDS and (final_a is None) != (final_b is None):
        return min(sim, UNCONFIRMED_CAP)
    lexical = overlap(words_a, words_b)
    entity = same_entity(*spans) if spans else None
    if spans and entity is not False:
        lexical = max(lexical, overlap(spans[0].content, spans[1].content))
    if entity:
        # Both first claims name the same thing: details that differ later are extra.
        contradicted = min(contradicted, 1 if stance_clash else 0)
    if LEXICAL_WEIGHT:
        sim = (1 - LEXICAL_WEIGHT) * sim + LEXICAL_WEIGHT * lexical
    return sim * CONFLICT_FACTOR**contradicted
