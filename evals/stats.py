"""Honest statistics for eval runs: intervals, pass@k, paired tests, agreement.

Everything here is a pure function over plain numbers so it can be tested (and
property-tested) in milliseconds. numpy/scipy/scikit-learn do the arithmetic, except
where a closed form is exact and short: the Wilson interval, the exact McNemar test and
the latency percentiles that every eval report shows come from the standard library
(the tests check each against scipy or numpy), because importing scipy.stats costs
about a second of CPU and a report is the last step of every ``quorum eval run``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TypeVar

import numpy as np

K = TypeVar("K", bound=Hashable)

#: Below this p-value a paired difference is reported as real.
ALPHA = 0.05


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (equal to scipy's ``binomtest(...)
    .proportion_ci(method="wilson")``); (0, 1) when there is no data, which scipy
    refuses."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got {successes} of {n}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    if n == 0:
        return (0.0, 1.0)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z * math.sqrt(p * (1 - p) / n + z2n / (4 * n)) / (1 + z2n)
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    # Guard against rounding at the edges: the interval always holds the point estimate.
    return (min(low, p), max(high, p))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): P(at least one of k samples drawn without
    replacement from n, of which c passed, passes) = 1 - C(n-c, k) / C(n, k)."""
    _check_nck(n, c, k)
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k (Yao et al. 2024): P(all k samples drawn from n pass) = C(c, k) / C(n, k)."""
    _check_nck(n, c, k)
    return math.comb(c, k) / math.comb(n, k)


def _check_nck(n: int, c: int, k: int) -> None:
    if not (0 <= c <= n) or not (1 <= k <= n):
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")


def consistency(outcomes: Sequence[bool]) -> float:
    """Share of samples that agree with the case's majority outcome: 1.0 when every
    sample of the case passes or every one fails, 0.5 at a coin flip."""
    if not outcomes:
        raise ValueError("consistency needs at least one outcome")
    p = sum(outcomes) / len(outcomes)
    return max(p, 1 - p)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100, linear interpolation: numpy's default method, without
    the tenth of a second numpy's percentile spends importing ``numpy.ma`` on its first
    call); ``None`` for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"a percentile is between 0 and 100, got {q}")
    if not values:
        return None
    return _percentile_of(sorted(float(v) for v in values), q)


def _percentile_of(ordered: Sequence[float], q: float) -> float:
    position = (len(ordered) - 1) * q / 100
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    low, high = ordered[below], ordered[above]
    return low + (position - below) * (high - low)


@dataclass(frozen=True)
class Rate:
    """A pass rate with its Wilson 95% interval."""

    passed: int
    n: int
    low: float
    high: float

    @property
    def rate(self) -> float | None:
        return self.passed / self.n if self.n else None

    @classmethod
    def of(cls, passed: int, n: int) -> Rate:
        low, high = wilson_interval(passed, n)
        return cls(passed, n, low, high)


def breakdown(outcomes: Iterable[tuple[K, bool]]) -> dict[K, Rate]:
    """Pass rate with interval per group (category, severity, ...)."""
    passed: Counter[K] = Counter()
    total: Counter[K] = Counter()
    for key, ok in outcomes:
        total[key] += 1
        passed[key] += int(ok)
    return {key: Rate.of(passed[key], total[key]) for key in total}


@dataclass(frozen=True)
class PairedComparison:
    """Model A against model B on the same cases (one outcome per case each)."""

    a: str
    b: str
    n: int  # cases both models have an outcome for
    a_only: int  # cases A passed and B failed
    b_only: int  # cases B passed and A failed
    p_value: float  # McNemar exact (two-sided binomial test on the discordant cases)
    diff: float  # pass rate of A minus pass rate of B
    ci_low: float  # paired bootstrap 95% interval of ``diff``
    ci_high: float

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA

    @property
    def verdict(self) -> str:
        if self.n == 0:
            return f"{self.a} vs {self.b}: no shared cases to compare"
        if not self.significant:
            return f"difference within noise (n = {self.n}, p={self.p_value:.2g})"
        winner, loser = (self.a, self.b) if self.diff > 0 else (self.b, self.a)
        return f"{winner} beats {loser} (p={self.p_value:.2g}, n = {self.n})"


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pair counts: the exact binomial
    test of ``a_only`` out of ``a_only + b_only`` at 1/2 (equal to scipy's ``binomtest``),
    twice the smaller tail, in exact integer arithmetic."""
    if a_only < 0 or b_only < 0:
        raise ValueError(f"need counts >= 0, got {a_only} and {b_only}")
    n, k = a_only + b_only, min(a_only, b_only)
    if 2 * k == n:
        return 1.0
    term = tail = 1  # C(n, 0)
    for i in range(1, k + 1):
        term = term * (n - i + 1) // i  # C(n, i), exact
        tail += term
    return min(1.0, 2 * tail / (1 << n))


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, seed: int = 0, resamples: int = 5000
) -> tuple[float, float]:
    """95% percentile interval of mean(a - b), resampling cases with replacement."""
    if len(a) != len(b):
        raise ValueError("paired samples must have the same length")
    if resamples < 1:
        raise ValueError("paired_bootstrap needs at least one resample")
    if not a:
        return (0.0, 0.0)
    diffs = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diffs), size=(resamples, len(diffs)))
    means = diffs[idx].mean(axis=1)
    ordered = np.sort(means).tolist()
    return (_percentile_of(ordered, 2.5), _percentile_of(ordered, 97.5))


def compare_paired(
    a_name: str,
    a: Mapping[K, float],
    b_name: str,
    b: Mapping[K, float],
    *,
    seed: int = 0,
) -> PairedComparison:
    """Compare two models on the cases both have. Values are per-case pass rates over
    samples (0..1); a case counts as passed for McNemar when its rate is above 0.5."""
    shared = sorted(set(a) & set(b), key=str)
    ra = [a[k] for k in shared]
    rb = [b[k] for k in shared]
    a_only = sum(1 for x, y in zip(ra, rb, strict=True) if x > 0.5 >= y)
    b_only = sum(1 for x, y in zip(ra, rb, strict=True) if y > 0.5 >= x)
    low, high = paired_bootstrap(ra, rb, seed=seed)
    diff = float(np.mean(ra) - np.mean(rb)) if shared else 0.0
    return PairedComparison(
        a=a_name,
        b=b_name,
        n=len(shared),
        a_only=a_only,
        b_only=b_only,
        p_value=mcnemar_exact(a_only, b_only),
        diff=diff,
        ci_low=low,
        ci_high=high,
    )


def regressions(previous: Mapping[K, bool], current: Mapping[K, bool]) -> list[K]:
    """Keys (e.g. (case, model)) that passed before and fail now, in a stable order."""
    return sorted((k for k, ok in current.items() if not ok and previous.get(k) is True), key=str)


def failure_mode_counts(modes: Iterable[str | None]) -> dict[str, int]:
    counts = Counter(m for m in modes if m)
    return dict(counts.most_common())


@dataclass(frozen=True)
class Agreement:
    """How well the judge agrees with human labels."""

    n: int
    agreement: float
    kappa: float | None  # None when undefined (a single class everywhere)

    MIN_LABELS = 20
    MIN_KAPPA = 0.6

    @property
    def warnings(self) -> list[str]:
        out: list[str] = []
        if self.n < self.MIN_LABELS:
            out.append(f"only {self.n} labels: at least {self.MIN_LABELS} are needed to trust this")
        if self.kappa is None:
            out.append("Cohen's κ is undefined: every label (or every verdict) is the same")
        elif self.kappa < self.MIN_KAPPA:
            out.append(
                f"Cohen's κ = {self.kappa:.2f} is below {self.MIN_KAPPA}: the judge does not "
                "agree well enough with people; treat its verdicts with caution"
            )
        return out


def judge_agreement(judge: Sequence[bool], human: Sequence[bool]) -> Agreement:
    """Raw agreement and Cohen's κ between judge verdicts and human labels."""
    if len(judge) != len(human):
        raise ValueError("judge verdicts and human labels must pair up")
    n = len(judge)
    if n == 0:
        return Agreement(0, 0.0, None)
    agree = sum(1 for x, y in zip(judge, human, strict=True) if x == y) / n
    if len(set(judge) | set(human)) < 2:
        return Agreement(n, agree, None)
    from sklearn.metrics import cohen_kappa_score

    kappa = float(cohen_kappa_score(list(judge), list(human)))
    return Agreement(n, agree, None if math.isnan(kappa) else kappa)


def spearman(x: Sequence[float], y: Sequence[float]) -> tuple[float, float] | None:
    """Spearman's ρ and its p-value; ``None`` with fewer than 3 pairs or no variation."""
    if len(x) != len(y):
        raise ValueError("spearman needs paired values")
    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return None
    from scipy import stats as sps

    result = sps.spearmanr(x, y)
    return (float(result.statistic), float(result.pvalue))
