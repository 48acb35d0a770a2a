"""Preference ranking from best-answer votes (Bradley–Terry).

A best-answer vote says: of the models that answered this question, the user liked
``winner``'s answer best. Each vote is read as ``winner`` beating every other candidate
once. Bradley–Terry strengths are fitted with Hunter's MM algorithm; every model also
gets one pseudo-win and one pseudo-loss against a virtual average opponent, so a model
that never won (or never lost) still gets a finite strength and a handful of votes
cannot put a model at infinity.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from evals.errors import InputError

#: Pseudo-comparisons against the virtual opponent (strength 1.0) per model.
PRIOR_GAMES = 1.0


@dataclass(frozen=True)
class PreferencePick:
    """One person's best-answer vote as the ranking reads it: the winner among the candidates
    (the stored vote is :class:`storage.records.BestAnswerVote`)."""

    winner: str
    candidates: tuple[str, ...]


@dataclass(frozen=True)
class PreferenceScore:
    model: str
    strength: float  # Bradley–Terry strength; 1.0 = the virtual average opponent
    rank: int  # 1 = most preferred; ties share a rank
    wins: int  # votes won
    votes: int  # votes in which the model was a candidate

    @property
    def win_share(self) -> float:
        return self.wins / self.votes if self.votes else 0.0


def _pairs(votes: Iterable[PreferencePick]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for vote in votes:
        if vote.winner not in vote.candidates:
            raise InputError(
                f"best-answer vote for {vote.winner!r}, which is not among the candidates "
                f"{', '.join(vote.candidates) or '(none)'}"
            )
        pairs.extend((vote.winner, loser) for loser in set(vote.candidates) if loser != vote.winner)
    return pairs


def bradley_terry(
    votes: Sequence[PreferencePick],
    models: Sequence[str] = (),
    *,
    max_iter: int = 500,
    tol: float = 1e-9,
) -> list[PreferenceScore]:
    """Fit Bradley–Terry strengths and rank the models, best first.

    ``models`` adds models that had no votes (they keep strength 1.0, the prior).
    Votes whose only candidate is the winner carry no comparison and are ignored for
    strengths, but still count in ``votes``/``wins``.
    """
    names = sorted({*models, *(m for v in votes for m in v.candidates)})
    if not names:
        return []
    index = {m: i for i, m in enumerate(names)}
    n = len(names)
    wins_matrix = np.zeros((n, n))  # wins_matrix[i, j] = times i beat j
    for winner, loser in _pairs(votes):
        wins_matrix[index[winner], index[loser]] += 1.0

    games = wins_matrix + wins_matrix.T
    total_wins = wins_matrix.sum(axis=1) + PRIOR_GAMES
    strength = np.ones(n)
    for _ in range(max_iter):
        pair_sum = strength[:, None] + strength[None, :]
        denom = (games / pair_sum).sum(axis=1) + 2.0 * PRIOR_GAMES / (strength + 1.0)
        updated = total_wins / denom
        done = bool(np.max(np.abs(updated - strength)) < tol)
        strength = updated
        if done:
            break

    vote_count = {m: 0 for m in names}
    win_count = {m: 0 for m in names}
    for vote in votes:
        win_count[vote.winner] += 1
        for m in set(vote.candidates):
            vote_count[m] += 1

    order = sorted(names, key=lambda m: (-strength[index[m]], m))
    scores: list[PreferenceScore] = []
    rank = 0
    previous: float | None = None
    for position, model in enumerate(order, start=1):
        value = float(strength[index[model]])
        if previous is None or not np.isclose(value, previous, rtol=1e-6, atol=1e-9):
            rank = position
        previous = value
        scores.append(
            PreferenceScore(
                model=model,
                strength=value,
                rank=rank,
                wins=win_count[model],
                votes=vote_count[model],
            )
        )
    return scores
