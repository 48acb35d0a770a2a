"""Bradley–Terry preference ranking from best-answer votes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evals.digest.preference import PRIOR_GAMES, PreferencePick, bradley_terry
from evals.errors import InputError

MODELS = ("alpha", "beta", "gamma")


def vote(winner: str, *candidates: str) -> PreferencePick:
    return PreferencePick(winner=winner, candidates=tuple(candidates))


def test_no_votes_and_no_models_gives_nothing() -> None:
    assert bradley_terry([]) == []


def test_models_without_votes_tie_at_the_prior() -> None:
    scores = bradley_terry([], ["beta", "alpha"])
    assert [(s.model, s.rank, s.votes) for s in scores] == [("alpha", 1, 0), ("beta", 1, 0)]
    assert all(math.isclose(s.strength, 1.0) for s in scores)


def test_clear_winner_ranks_first_and_a_model_that_never_won_stays_finite() -> None:
    votes = [vote("alpha", *MODELS)] * 6 + [vote("beta", *MODELS)] * 2
    scores = bradley_terry(votes)
    assert [s.model for s in scores] == ["alpha", "beta", "gamma"]
    assert [s.rank for s in scores] == [1, 2, 3]
    alpha, beta, gamma = scores
    assert (alpha.wins, alpha.votes) == (6, 8)
    assert (gamma.wins, gamma.votes) == (0, 8)
    assert alpha.win_share == pytest.approx(0.75)
    assert 0 < gamma.strength < beta.strength < alpha.strength < math.inf


def test_strengths_solve_the_penalised_likelihood_equations() -> None:
    votes = [vote("alpha", "alpha", "beta")] * 3 + [vote("beta", "alpha", "beta")]
    votes += [vote("gamma", "beta", "gamma")] * 2 + [vote("beta", "beta", "gamma")]
    scores = {s.model: s.strength for s in bradley_terry(votes)}
    wins = {("alpha", "beta"): 3, ("beta", "alpha"): 1, ("gamma", "beta"): 2, ("beta", "gamma"): 1}
    for i in scores:
        won = sum(n for (w, _), n in wins.items() if w == i) + PRIOR_GAMES
        expected = sum(
            n * scores[i] / (scores[i] + scores[w if w != i else lo])
            for (w, lo), n in wins.items()
            if i in (w, lo)
        ) + 2 * PRIOR_GAMES * scores[i] / (scores[i] + 1.0)
        assert won == pytest.approx(expected, rel=1e-6)


def test_equal_records_share_a_rank() -> None:
    votes = [vote("alpha", "alpha", "beta"), vote("beta", "alpha", "beta"), vote("gamma", *MODELS)]
    scores = bradley_terry(votes)
    assert scores[0].model == "gamma"
    assert [(s.model, s.rank) for s in scores[1:]] == [("alpha", 2), ("beta", 2)]


def test_a_vote_for_a_model_that_did_not_answer_is_refused() -> None:
    with pytest.raises(InputError, match="not among the candidates"):
        bradley_terry([vote("delta", "alpha", "beta")])


votes_strategy = st.lists(
    st.tuples(st.sampled_from(MODELS), st.sets(st.sampled_from(MODELS), min_size=1)).map(
        lambda t: vote(t[0], *sorted(t[1] | {t[0]}))
    ),
    max_size=25,
)


@given(votes_strategy)
def test_vote_order_does_not_matter(votes: list[PreferencePick]) -> None:
    forward = {s.model: s.strength for s in bradley_terry(votes, MODELS)}
    backward = {s.model: s.strength for s in bradley_terry(list(reversed(votes)), MODELS)}
    for model in MODELS:
        assert forward[model] == pytest.approx(backward[model], rel=1e-6)


@given(votes_strategy, st.sampled_from(MODELS))
def test_one_more_win_never_lowers_a_models_strength(
    votes: list[PreferencePick], model: str
) -> None:
    before = {s.model: s.strength for s in bradley_terry(votes, MODELS)}
    after = {s.model: s.strength for s in bradley_terry([*votes, vote(model, *MODELS)], MODELS)}
    assert after[model] >= before[model] * (1 - 1e-6)
