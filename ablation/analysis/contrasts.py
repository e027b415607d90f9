"""A cell against a reference (the baseline): pairing by seed, the t-test and the equivalence
test (TOST) on standard errors from the data, the difference with its CIs, P(improvement) with
its exact CI, and an effect size."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import special as _sp
from scipy import stats as _st

from ablation.analysis.intervals import (
    N_RESAMPLES,
    NO_INTERVAL,
    Bounds,
    Interval,
    bootstrap_interval,
    clip,
    difference_bounds,
    mean_difference,
    mean_statistic,
)
from ablation.analysis.stats import MIN_TEST_N

PAIRED, WELCH = "paired", "welch"
MIN_PAIRS = MIN_TEST_N  # pair by seed from 3 shared seeds: the fewest a test is made on
CLOPPER_PEARSON = "clopper-pearson"
# Spread below this share of the values' magnitude is float noise, not spread: 98.8858 -
# 99.1643 and 98.8858 - 99.1643 computed apart differ by ~1e-14, and a t-test on that
# "spread" gave p ~ 1e-13 (issue 19).
SPREAD_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Pairing:
    """The two samples a comparison uses: matched by seed (``paired``) or all values."""

    paired: bool
    a: np.ndarray
    b: np.ndarray
    seeds: tuple[int, ...] = ()  # the shared seeds, in order, when paired


def pair_up(values: Mapping[int, float], reference: Mapping[int, float]) -> Pairing:
    """Pair by seed when >= 3 seeds are shared, keeping only the shared seeds; else unpaired.

    The seed is noise both sides share (weight init and batch order), so matching on it removes
    that noise from the difference. Seeds only one side ran (a failed trial, or cells topped up
    in different rounds) are left out of a paired comparison.
    """
    shared = tuple(sorted(set(values) & set(reference)))
    if len(shared) >= MIN_PAIRS:
        return Pairing(True, np.array([values[s] for s in shared], dtype=float),
                       np.array([reference[s] for s in shared], dtype=float), shared)
    return Pairing(False, np.array(list(values.values()), dtype=float),
                   np.array(list(reference.values()), dtype=float))


def paired_differences(values: Mapping[int, float],
                       reference: Mapping[int, float]) -> dict[int, float]:
    """``values[s] - reference[s]`` for every seed s both ran, in seed order."""
    return {s: values[s] - reference[s] for s in sorted(set(values) & set(reference))}


@dataclass(frozen=True)
class Spread:
    """The difference a - b with its standard error from the data and the t's degrees of
    freedom: s_d / sqrt(n) paired, sqrt(s_a^2/n_a + s_b^2/n_b) with Welch-Satterthwaite df."""

    diff: float
    se: float  # 0 when the values have no spread (beyond float noise)
    df: float


def _magnitude(pair: Pairing) -> float:
    return max(1.0, float(np.max(np.abs(pair.a))), float(np.max(np.abs(pair.b))))


def spread(pair: Pairing) -> Spread | None:
    """The difference, its standard error and df; None below 2 values a side."""
    if len(pair.a) < 2 or len(pair.b) < 2:
        return None
    tol = SPREAD_TOLERANCE * _magnitude(pair)
    if pair.paired:
        d = pair.a - pair.b
        sd = float(d.std(ddof=1)) if float(np.ptp(d)) > tol else 0.0
        return Spread(float(d.mean()), sd / math.sqrt(len(d)), len(d) - 1.0)
    va = float(pair.a.var(ddof=1)) if float(np.ptp(pair.a)) > tol else 0.0
    vb = float(pair.b.var(ddof=1)) if float(np.ptp(pair.b)) > tol else 0.0
    qa, qb = va / len(pair.a), vb / len(pair.b)
    se = math.sqrt(qa + qb)
    df = ((qa + qb) ** 2 / (qa**2 / (len(pair.a) - 1) + qb**2 / (len(pair.b) - 1))
          if se > 0 else len(pair.a) + len(pair.b) - 2.0)
    return Spread(float(pair.a.mean() - pair.b.mean()), se, float(df))


def has_spread(pair: Pairing) -> bool:
    """True when the difference has a standard error above float noise (>= 2 values a side)."""
    s = spread(pair)
    return s is not None and s.se > 0


@dataclass(frozen=True)
class TTest:
    """A two-sided t-test of a - b: which test, the estimated difference, t, df and p."""

    test: str  # "paired" or "welch"
    diff: float  # mean of the paired differences, or mean(a) - mean(b)
    t: float
    df: float
    p: float


def t_test(pair: Pairing) -> TTest | None:
    """The paired t-test, else Welch's (as ``scipy.stats.ttest_rel``/``ttest_ind``); None
    below MIN_TEST_N values a side. Without spread the test is not made: t and p are NaN
    (identical paired differences are no evidence of a difference, issue 19)."""
    s = spread(pair)
    if s is None or min(len(pair.a), len(pair.b)) < MIN_TEST_N:
        return None
    test = PAIRED if pair.paired else WELCH
    if s.se == 0:
        return TTest(test, s.diff, math.nan, s.df, math.nan)
    t = s.diff / s.se
    # stdtr is the t distribution's cdf, as scipy.stats.t.sf gives it, ~50x faster
    return TTest(test, s.diff, t, s.df, float(min(1.0, 2 * _sp.stdtr(s.df, -abs(t)))))


def equivalence_p(pair: Pairing, margin: float | None) -> float:
    """Two one-sided tests (Schuirmann 1987) of |a - b| >= margin with the same t as
    :func:`t_test`: the larger one-sided p. p < alpha exactly when the (1 - 2 alpha) t interval
    lies inside (-margin, margin). NaN when no test is made or there is no margin > 0."""
    r = t_test(pair)
    s = spread(pair)
    if r is None or s is None or math.isnan(r.p) or margin is None or not margin > 0:
        return math.nan
    p_low = float(_sp.stdtr(s.df, -(s.diff + margin) / s.se))
    p_high = float(_sp.stdtr(s.df, (s.diff - margin) / s.se))
    return min(1.0, max(p_low, p_high))


def diff_t_interval(pair: Pairing, level: float = 0.95, bounds: Bounds = None) -> Interval:
    """t interval of the difference (paired, or Welch's) from the data's standard error,
    clipped to the difference's range; none below 2 values a side."""
    s = spread(pair)
    if s is None:
        return NO_INTERVAL
    half = float(_st.t.ppf(0.5 + level / 2, s.df)) * s.se
    return clip(s.diff - half, s.diff + half, "t", difference_bounds(bounds))


def diff_boot_interval(pair: Pairing, level: float = 0.95, seed: int = 0,
                       n_resamples: int = N_RESAMPLES, bounds: Bounds = None) -> Interval:
    """Bootstrap interval of the difference: of the paired differences' mean, or of
    mean(a) - mean(b) resampling each side on its own (its coverage falls short of ``level``
    at few seeds: docs/statistics.md)."""
    if pair.paired:
        return bootstrap_interval((pair.a - pair.b,), mean_statistic, level=level, seed=seed,
                                  n_resamples=n_resamples, bounds=difference_bounds(bounds))
    return bootstrap_interval((pair.a, pair.b), mean_difference, level=level, seed=seed,
                              n_resamples=n_resamples, bounds=difference_bounds(bounds))


def _wins_paired(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean((a > b) + 0.5 * (a == b), axis=axis)


def _wins_all_pairs(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    a, b = np.moveaxis(a, axis, -1)[..., :, None], np.moveaxis(b, axis, -1)[..., None, :]
    return np.mean((a > b) + 0.5 * (a == b), axis=(-2, -1))


def prob_improvement(pair: Pairing, higher_better: bool) -> float:
    """P(A > B) of Bouthillier et al. 2021: the chance that a run of A beats a run of B in the
    metric's direction, ties counting 1/2. Paired: the share of shared seeds A wins; unpaired:
    the share over all (run of A, run of B) pairs (Mann-Whitney U / (n_a n_b))."""
    a, b = (pair.a, pair.b) if higher_better else (-pair.a, -pair.b)
    if len(a) == 0 or len(b) == 0:
        return math.nan
    return float((_wins_paired if pair.paired else _wins_all_pairs)(a, b))


def clopper_pearson(wins: int, ties: int, n: int, level: float = 0.95) -> Interval:
    """Exact interval of theta = P(win) + P(tie)/2 from n paired trials: the Clopper-Pearson
    (1934) lower end of P(win) (ties as losses) and upper end of P(win or tie) (ties as wins).
    theta lies between those two probabilities, so the interval covers it with >= ``level``."""
    if n < 1:
        return NO_INTERVAL
    a = (1 - level) / 2
    low = 0.0 if wins == 0 else float(_st.beta.ppf(a, wins, n - wins + 1))
    up = wins + ties
    high = 1.0 if up == n else float(_st.beta.ppf(1 - a, up + 1, n - up))
    return Interval(low, high, CLOPPER_PEARSON)


def prob_improvement_interval(pair: Pairing, higher_better: bool,
                              level: float = 0.95) -> Interval:
    """Exact (Clopper-Pearson) interval of the paired win rate; none for an unpaired
    comparison (its estimand, all pairs' U / (n_a n_b), has no exact interval here)."""
    if not pair.paired or len(pair.a) == 0:
        return NO_INTERVAL
    a, b = (pair.a, pair.b) if higher_better else (-pair.a, -pair.b)
    return clopper_pearson(int(np.sum(a > b)), int(np.sum(a == b)), len(a), level)


@dataclass(frozen=True)
class EffectSize:
    """A standardised difference a - b: ``cohen_dz`` (paired) or ``hedges_g`` (unpaired)."""

    name: str
    value: float


def _standardise(diff: float, sd: float) -> float:
    if sd == 0 or math.isnan(sd):
        return math.nan if diff == 0 or math.isnan(sd) else math.copysign(math.inf, diff)
    return diff / sd


def effect_size(pair: Pairing) -> EffectSize:
    """Cohen's d_z = mean(d) / sd(d) for paired differences d; else Hedges' g = (mean(a) -
    mean(b)) / pooled sd, times the exact small-sample correction J(df) = Gamma(df/2) /
    (sqrt(df/2) Gamma((df-1)/2)), df = n_a + n_b - 2 (Hedges 1981). NaN below n = 2."""
    if len(pair.a) < 2 or len(pair.b) < 2:
        return EffectSize("cohen_dz" if pair.paired else "hedges_g", math.nan)
    if pair.paired:
        d = pair.a - pair.b
        return EffectSize("cohen_dz", _standardise(float(d.mean()), float(d.std(ddof=1))))
    na, nb = len(pair.a), len(pair.b)
    df = na + nb - 2
    pooled = math.sqrt(((na - 1) * pair.a.var(ddof=1) + (nb - 1) * pair.b.var(ddof=1)) / df)
    j = math.exp(_sp.gammaln(df / 2) - _sp.gammaln((df - 1) / 2)) / math.sqrt(df / 2)
    return EffectSize("hedges_g", j * _standardise(float(pair.a.mean() - pair.b.mean()), pooled))


@dataclass(frozen=True)
class Contrast:
    """A cell against its reference: the difference (paired over shared seeds, else of the
    means) with t and bootstrap CIs, P(improvement) with its exact CI (paired), and an effect
    size."""

    paired: bool
    n: int  # pairs when paired, else the cell's values
    n_ref: int  # pairs when paired, else the reference's values
    diff: float
    t_ci: Interval
    boot_ci: Interval
    p_improve: float
    p_improve_ci: Interval
    effect: EffectSize
    level: float


def contrast(values: Mapping[int, float], reference: Mapping[int, float], higher_better: bool,
             bounds: Bounds = None, level: float = 0.95, seed: int = 0,
             n_resamples: int = N_RESAMPLES) -> Contrast:
    """Everything that describes ``values`` (seed -> value) against ``reference``.

    ``bounds`` is the metric's range; the difference's CIs are clipped to the range of a
    difference (e.g. [-100, 100] for percent). Both bootstraps are seeded by ``seed``.
    """
    pair = pair_up(values, reference)
    diff = math.nan
    if len(pair.a) and len(pair.b):
        diff = float(np.mean(pair.a - pair.b) if pair.paired
                     else np.mean(pair.a) - np.mean(pair.b))
    return Contrast(pair.paired, len(pair.a), len(pair.b), diff,
                    diff_t_interval(pair, level, bounds),
                    diff_boot_interval(pair, level, seed, n_resamples, bounds),
                    prob_improvement(pair, higher_better),
                    prob_improvement_interval(pair, higher_better, level),
                    effect_size(pair), level)
