"""A cell against a reference (the baseline): pairing by seed, the t-test, the difference with
its CIs, P(improvement) with a bootstrap CI, and an effect size."""

from __future__ import annotations

import math
import warnings
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

PAIRED, WELCH = "paired", "welch"
MIN_PAIRS = 2  # the paired test needs 2 pairs; below that both sides are used unpaired


@dataclass(frozen=True)
class Pairing:
    """The two samples a comparison uses: matched by seed (``paired``) or all values."""

    paired: bool
    a: np.ndarray
    b: np.ndarray
    seeds: tuple[int, ...] = ()  # the shared seeds, in order, when paired


def pair_up(values: Mapping[int, float], reference: Mapping[int, float]) -> Pairing:
    """Pair by seed when >= 2 seeds are shared, keeping only the shared seeds; else unpaired.

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
class TTest:
    """A two-sided t-test of a - b: which test, the estimated difference, t, df and p."""

    test: str  # "paired" or "welch"
    diff: float  # mean of the paired differences, or mean(a) - mean(b)
    t: float
    df: float
    p: float


def t_test(pair: Pairing) -> TTest | None:
    """``scipy.stats.ttest_rel`` when paired, else Welch's ``ttest_ind``; None below n = 2.

    Without spread (every difference equal, or both sides constant) scipy's answer is kept
    where it is defined (t = +-inf, p = 0 for a nonzero difference) and NaN p otherwise.
    """
    if len(pair.a) < 2 or len(pair.b) < 2:
        return None
    with warnings.catch_warnings():
        # Nearly constant samples: scipy warns of precision loss but its answer is the one
        # above (inf or NaN), which callers handle.
        warnings.simplefilter("ignore", RuntimeWarning)
        if pair.paired:
            r = _st.ttest_rel(pair.a, pair.b)
            diff = float(np.mean(pair.a - pair.b))
        else:
            r = _st.ttest_ind(pair.a, pair.b, equal_var=False)
            diff = float(np.mean(pair.a) - np.mean(pair.b))
    return TTest(PAIRED if pair.paired else WELCH, diff, float(r.statistic), float(r.df),
                 float(r.pvalue))


def diff_t_interval(pair: Pairing, level: float = 0.95, bounds: Bounds = None) -> Interval:
    """t interval of the difference (paired, or Welch's), clipped to the difference's range."""
    res = t_test(pair)
    if res is None:
        return NO_INTERVAL
    if math.isnan(res.p) or math.isinf(res.t):  # no spread: these seeds pin the difference
        return clip(res.diff, res.diff, "t", difference_bounds(bounds))
    # t = 0 (a zero mean difference with spread) leaves diff / t undefined: the same standard
    # error straight from the samples.
    se = res.diff / res.t if res.t != 0 else _standard_error(pair)
    half = float(_st.t.ppf(0.5 + level / 2, res.df)) * abs(se)
    return clip(res.diff - half, res.diff + half, "t", difference_bounds(bounds))


def _standard_error(pair: Pairing) -> float:
    """The t-test's standard error of the difference (paired, or Welch's)."""
    if pair.paired:
        d = pair.a - pair.b
        return float(d.std(ddof=1) / np.sqrt(len(d)))
    return float(np.sqrt(pair.a.var(ddof=1) / len(pair.a) + pair.b.var(ddof=1) / len(pair.b)))


def diff_boot_interval(pair: Pairing, level: float = 0.95, seed: int = 0,
                       n_resamples: int = N_RESAMPLES, bounds: Bounds = None) -> Interval:
    """Bootstrap interval of the difference: of the paired differences' mean, or of
    mean(a) - mean(b) resampling each side on its own."""
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


def prob_improvement_interval(pair: Pairing, higher_better: bool, level: float = 0.95,
                              seed: int = 0, n_resamples: int = N_RESAMPLES) -> Interval:
    """Seeded bootstrap interval of :func:`prob_improvement` (pairs resampled together when
    paired, each side on its own otherwise), within [0, 1]."""
    a, b = (pair.a, pair.b) if higher_better else (-pair.a, -pair.b)
    stat = _wins_paired if pair.paired else _wins_all_pairs
    return bootstrap_interval((a, b), stat, paired=pair.paired, level=level, seed=seed,
                              n_resamples=n_resamples, bounds=(0.0, 1.0))


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
    means) with t and bootstrap CIs, P(improvement) with its bootstrap CI, and an effect size."""

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
                    prob_improvement_interval(pair, higher_better, level, seed, n_resamples),
                    effect_size(pair), level)
