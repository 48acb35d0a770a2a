"""Statistics: intervals, pass@k, paired tests, regressions, agreement."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from evals import stats


def test_wilson_known_values() -> None:
    low, high = stats.wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3)
    assert high == pytest.approx(0.9433, abs=1e-3)
    assert stats.wilson_interval(0, 0) == (0.0, 1.0)
    low, high = stats.wilson_interval(0, 20)
    assert low == 0.0 and 0.1 < high < 0.2
    with pytest.raises(ValueError):
        stats.wilson_interval(3, 2)
    with pytest.raises(ValueError):
        stats.wilson_interval(3, 5, confidence=1.0)


@given(
    st.integers(min_value=1, max_value=5000).flatmap(
        lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
    )
)
def test_wilson_holds_the_estimate_and_stays_in_unit_interval(sn: tuple[int, int]) -> None:
    s, n = sn
    low, high = stats.wilson_interval(s, n)
    assert 0.0 <= low <= s / n <= high <= 1.0


@given(
    st.integers(min_value=1, max_value=100_000).flatmap(
        lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
    ),
    st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_wilson_equals_scipys(sn: tuple[int, int], confidence: float) -> None:
    s, n = sn
    ci = sps.binomtest(s, n).proportion_ci(confidence_level=confidence, method="wilson")
    low, high = stats.wilson_interval(s, n, confidence)
    assert low == pytest.approx(max(0.0, ci.low), rel=1e-9, abs=1e-12)
    assert high == pytest.approx(min(1.0, ci.high), rel=1e-9, abs=1e-12)


@given(st.integers(min_value=1, max_value=200))
def test_wilson_narrows_with_more_data(n: int) -> None:
    small = stats.wilson_interval(n // 2, n)
    big = stats.wilson_interval((n // 2) * 4, n * 4)
    assert big[1] - big[0] <= small[1] - small[0] + 1e-12


def test_pass_at_k_known_values() -> None:
    assert stats.pass_at_k(3, 1, 1) == pytest.approx(1 / 3)
    assert stats.pass_at_k(3, 1, 3) == 1.0
    assert stats.pass_at_k(3, 0, 2) == 0.0
    assert stats.pass_at_k(10, 3, 2) == pytest.approx(1 - math.comb(7, 2) / math.comb(10, 2))
    assert stats.pass_hat_k(3, 2, 2) == pytest.approx(1 / 3)
    assert stats.pass_hat_k(3, 3, 3) == 1.0
    with pytest.raises(ValueError):
        stats.pass_at_k(3, 1, 4)


nck = st.integers(min_value=1, max_value=30).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(min_value=0, max_value=n))
)


@given(nck)
def test_pass_at_k_grows_and_pass_hat_k_shrinks_with_k(nc: tuple[int, int]) -> None:
    n, c = nc
    at = [stats.pass_at_k(n, c, k) for k in range(1, n + 1)]
    hat = [stats.pass_hat_k(n, c, k) for k in range(1, n + 1)]
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(at))
    assert all(a + 1e-12 >= b for a, b in itertools.pairwise(hat))
    # At k = 1 both are the plain pass rate; pass^k never exceeds pass@k.
    assert at[0] == pytest.approx(c / n) and hat[0] == pytest.approx(c / n)
    assert all(h <= a + 1e-12 for h, a in zip(hat, at, strict=True))


def test_consistency() -> None:
    assert stats.consistency([True, True, True]) == 1.0
    assert stats.consistency([False, False]) == 1.0
    assert stats.consistency([True, False, True]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        stats.consistency([])


def test_breakdown_and_failure_modes() -> None:
    rates = stats.breakdown([("sql", True), ("sql", False), ("k8s", True)])
    assert rates["sql"].passed == 1 and rates["sql"].n == 2 and rates["sql"].rate == 0.5
    assert rates["k8s"].low < 1.0 == rates["k8s"].high
    assert stats.failure_mode_counts(["wrong_fact", None, "unsafe", "wrong_fact"]) == {
        "wrong_fact": 2,
        "unsafe": 1,
    }


def test_percentiles() -> None:
    assert stats.percentile([], 50) is None
    assert stats.percentile([100, 200, 300], 50) == 200
    assert stats.percentile(list(range(101)), 95) == pytest.approx(95)
    with pytest.raises(ValueError):
        stats.percentile([1.0], 101)


@given(
    st.lists(st.integers(min_value=0, max_value=600_000), min_size=1, max_size=300),
    st.floats(min_value=0, max_value=100),
)
def test_percentile_equals_numpys(values: list[int], q: float) -> None:
    expected = float(np.percentile(np.asarray(values, dtype=float), q))
    assert stats.percentile(values, q) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_a_clear_difference_is_called_and_noise_is_not() -> None:
    cases = [f"c{i}" for i in range(42)]
    strong = {c: 1.0 for c in cases}
    weak = {c: (1.0 if i < 10 else 0.0) for i, c in enumerate(cases)}
    cmp = stats.compare_paired("alpha", strong, "beta", weak)
    assert cmp.significant and cmp.a_only == 32 and cmp.b_only == 0
    assert cmp.verdict.startswith("alpha beats beta (p=")
    assert cmp.ci_low > 0.5
    reverse = stats.compare_paired("beta", weak, "alpha", strong)
    assert reverse.verdict.startswith("alpha beats beta")

    nearly = {c: (0.0 if i in (0, 1) else 1.0) for i, c in enumerate(cases)}
    noise = stats.compare_paired("alpha", strong, "gamma", nearly)
    assert not noise.significant
    assert noise.verdict.startswith("difference within noise (n = 42")


def test_mcnemar_matches_the_exact_binomial() -> None:
    assert stats.mcnemar_exact(0, 0) == 1.0
    assert stats.mcnemar_exact(6, 0) == pytest.approx(2 * 0.5**6)
    assert stats.mcnemar_exact(3, 3) == 1.0
    assert stats.mcnemar_exact(5000, 0) == 0.0  # underflows, as scipy's does
    with pytest.raises(ValueError):
        stats.mcnemar_exact(-1, 2)


@given(st.integers(min_value=0, max_value=3000), st.integers(min_value=0, max_value=3000))
def test_mcnemar_equals_scipys_binomtest(a_only: int, b_only: int) -> None:
    expected = 1.0 if a_only + b_only == 0 else sps.binomtest(a_only, a_only + b_only).pvalue
    got = stats.mcnemar_exact(a_only, b_only)
    if expected == 0.0:
        # scipy's tail sum underflows to 0 far from the subnormal range (seen: 10 vs 1,065,
        # where ours is 2.7e-300; the largest found where scipy says 0 is about 2e-254):
        # both say "no chance" for any decision a report makes.
        assert 0.0 <= got < 1e-250
    else:
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_bootstrap_is_reproducible_with_a_seed() -> None:
    a, b = [1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0]
    assert stats.paired_bootstrap(a, b, seed=7) == stats.paired_bootstrap(a, b, seed=7)


def test_regressions_list_what_passed_and_now_fails() -> None:
    before = {("c1", "m"): True, ("c2", "m"): True, ("c3", "m"): False}
    after = {("c1", "m"): False, ("c2", "m"): True, ("c3", "m"): False, ("c4", "m"): False}
    assert stats.regressions(before, after) == [("c1", "m")]


def test_judge_agreement_and_warnings() -> None:
    judge = [True] * 15 + [False] * 15
    human = [True] * 13 + [False] * 2 + [False] * 13 + [True] * 2
    a = stats.judge_agreement(judge, human)
    assert a.n == 30 and a.agreement == pytest.approx(26 / 30)
    assert a.kappa == pytest.approx(0.7333, abs=1e-3)
    assert a.warnings == []
    few = stats.judge_agreement([True, False], [True, True])
    assert any("only 2 labels" in w for w in few.warnings)
    poor = stats.judge_agreement([True, False] * 15, [True] * 15 + [False] * 15)
    assert any("below 0.6" in w for w in poor.warnings)
    same = stats.judge_agreement([True] * 25, [True] * 25)
    assert same.kappa is None and any("undefined" in w for w in same.warnings)


def test_spearman() -> None:
    rho_p = stats.spearman([1, 2, 3, 4], [10, 20, 30, 40])
    assert rho_p is not None and rho_p[0] == pytest.approx(1.0)
    assert stats.spearman([1, 2], [1, 2]) is None
    assert stats.spearman([1, 1, 1], [1, 2, 3]) is None
