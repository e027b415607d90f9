"""How many seeds a cell needs (Colas et al. 2018, arXiv 1806.08295): power of the two-sided
paired and Welch t-tests from the noncentral t, and the smallest n that reaches a target.

Planning from observed seeds uses an upper confidence bound of the spread, not the sample sd:
an sd from 3 seeds is as likely to be half the truth as twice it, and a plan that takes it
as the truth delivers ~66% power on average instead of 80% (docs/statistics.md, calibration).
The bound is one-sided at ``SD_CONFIDENCE`` from the chi-square law of the sample variance
(sd * sqrt(df / chi2.ppf(1 - confidence, df))); 75% is the smallest round level at which
plans from 3, 5 and 10 seeds delivered >= 80% power on average in the calibration."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
from scipy import special as _sp
from scipy import stats as _st

from ablation.analysis.contrasts import PAIRED, WELCH, pair_up

TARGET_POWER = 0.8  # the convention Colas et al. (2018) use
MAX_SEEDS = 10_000  # past this, report "not reachable" rather than search on
SD_CONFIDENCE = 0.75  # one-sided upper bound of an observed sd that plans use (docstring)
_QUANTILES = (np.arange(4000) + 0.5) / 4000
MIN_PILOT = 3  # values per side before a spread is estimated (as the tests need: 3)


@dataclass(frozen=True)
class SeedsNeeded:
    """Seeds per cell for the chosen test to detect ``detect`` with ``target`` power at
    ``alpha``; ``n`` is None when the spread is unknown (< 2 values) or n > MAX_SEEDS."""

    n: int | None
    power: float  # the power at n (NaN when n is None)
    test: str  # "paired" or "welch"
    detect: float
    alpha: float
    target: float
    sd: float  # sd of the paired differences, or sqrt((sd_a^2 + sd_b^2) / 2) for Welch
    sd_planned: float = math.nan  # the sd the plan assumed: sd's upper bound (or sd itself)
    df: float = math.nan  # degrees of freedom of the observed sd (NaN: taken as known)
    confidence: float = math.nan  # of the upper bound (NaN: the sd was taken as the truth)


def sd_upper(sd: float, df: float, confidence: float = SD_CONFIDENCE) -> float:
    """One-sided ``confidence`` upper bound of a normal sample's sd with ``df`` degrees of
    freedom: (df s^2 / sigma^2) follows chi-square(df), so sigma <= s sqrt(df / chi2_(1-c))."""
    if math.isnan(sd) or not df > 0:
        return math.nan
    return sd * math.sqrt(df / float(_st.chi2.ppf(1 - confidence, df)))


@functools.lru_cache(maxsize=256)
def _chi_scale(df: float) -> np.ndarray:
    """sqrt(V / df) at midpoint quantiles of V ~ chi2(df) (cached: bisections repeat df)."""
    return np.sqrt(_st.chi2.ppf(_QUANTILES, df) / df)


def _two_sided_power(nc: float, df: float, alpha: float) -> float:
    # scipy.special's t and noncentral-t functions directly: the same values as
    # scipy.stats.t.ppf / nct.cdf without their per-call overhead (~50x faster), which
    # matters in bisections and in the calibration's many plans.
    crit = float(_sp.stdtrit(df, 1 - alpha / 2))
    power = float(1 - _sp.nctdtr(df, nc, crit) + _sp.nctdtr(df, nc, -crit))
    if math.isnan(power):
        # The noncentral t gives NaN far in its tail (nc 35 at df 5000, nc 8 at df 2). There
        # T = (Z + nc) / sqrt(V / df), V ~ chi2(df): average the normal tail over V's
        # quantiles (midpoint rule, error ~1e-4).
        v = _chi_scale(float(df))
        power = float(np.mean(_sp.ndtr(nc - crit * v) + _sp.ndtr(-crit * v - nc)))
    return min(max(power, 0.0), 1.0)


def power_paired(n: int, detect: float, sd_diff: float, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t-test with n pairs: the t statistic of the differences
    follows a noncentral t with n - 1 df and noncentrality detect * sqrt(n) / sd_diff."""
    if sd_diff == 0:
        return 1.0 if detect != 0 else alpha
    return _two_sided_power(abs(detect) * math.sqrt(n) / sd_diff, n - 1, alpha)


def power_welch(n: int, detect: float, sd_a: float, sd_b: float, alpha: float = 0.05) -> float:
    """Power of Welch's two-sided test with n seeds per side: noncentrality
    detect / sqrt((sd_a^2 + sd_b^2) / n), Welch-Satterthwaite df (an approximation, as in
    standard power software; tests/analysis checks it against simulation)."""
    va, vb = sd_a**2, sd_b**2
    if va + vb == 0:
        return 1.0 if detect != 0 else alpha
    df = (va + vb) ** 2 * (n - 1) / (va**2 + vb**2)
    return _two_sided_power(abs(detect) / math.sqrt((va + vb) / n), df, alpha)


def _smallest_n(power_at: Callable[[int], float], target: float) -> int | None:
    """Smallest n in [MIN_PILOT, MAX_SEEDS] with power_at(n) >= target (power grows with n;
    below 3 values a side no verdict is made at all)."""
    if power_at(MAX_SEEDS) < target:
        return None
    lo, hi = MIN_PILOT, MAX_SEEDS
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if power_at(mid) >= target else (mid + 1, hi)
    return lo


def _needed(test: str, power_at: Callable[[int], float], detect: float, alpha: float,
            target: float, sd: float) -> SeedsNeeded:
    if math.isnan(sd) or detect == 0:
        return SeedsNeeded(None, math.nan, test, detect, alpha, target, sd)
    n = _smallest_n(power_at, target)
    return SeedsNeeded(n, power_at(n) if n else math.nan, test, detect, alpha, target, sd)


def seeds_needed_paired(sd_diff: float, detect: float, alpha: float = 0.05,
                        target: float = TARGET_POWER) -> SeedsNeeded:
    """Pairs (seeds per cell) for the paired test to detect ``detect`` (metric units)."""
    return _needed(PAIRED, lambda n: power_paired(n, detect, sd_diff, alpha), detect, alpha,
                   target, sd_diff)


def seeds_needed_welch(sd_a: float, sd_b: float, detect: float, alpha: float = 0.05,
                       target: float = TARGET_POWER) -> SeedsNeeded:
    """Seeds per cell (both sides) for Welch's test to detect ``detect`` (metric units)."""
    sd = math.sqrt((sd_a**2 + sd_b**2) / 2)
    return _needed(WELCH, lambda n: power_welch(n, detect, sd_a, sd_b, alpha), detect, alpha,
                   target, sd)


def seeds_needed(values: Mapping[int, float], reference: Mapping[int, float], detect: float,
                 alpha: float = 0.05, target: float = TARGET_POWER,
                 confidence: float | None = SD_CONFIDENCE) -> SeedsNeeded:
    """From observed seeds: the paired plan over shared seeds (sd of their differences), else
    Welch's from each side's sd, with every sd replaced by its ``confidence`` upper bound
    (None: the observed sd taken as the truth). For m comparisons under Holm pass
    ``alpha / m`` (Holm's first step) to plan conservatively."""
    pair = pair_up(values, reference)
    if len(pair.a) < MIN_PILOT or len(pair.b) < MIN_PILOT:
        test = PAIRED if pair.paired else WELCH
        return SeedsNeeded(None, math.nan, test, detect, alpha, target, math.nan)
    if pair.paired:
        sd, df = float(np.std(pair.a - pair.b, ddof=1)), float(len(pair.a) - 1)
        up = sd if confidence is None else sd_upper(sd, df, confidence)
        found = seeds_needed_paired(up, detect, alpha, target)
        return replace(found, sd=sd, sd_planned=up, df=df,
                       confidence=math.nan if confidence is None else confidence)
    sd_a, sd_b = float(np.std(pair.a, ddof=1)), float(np.std(pair.b, ddof=1))
    df = _welch_df(sd_a, sd_b, len(pair.a), len(pair.b))
    scale = 1.0 if confidence is None else sd_upper(1.0, df, confidence)
    found = seeds_needed_welch(sd_a * scale, sd_b * scale, detect, alpha, target)
    return replace(found, sd=found.sd / scale, sd_planned=found.sd, df=df,
                   confidence=math.nan if confidence is None else confidence)


def _welch_df(sd_a: float, sd_b: float, na: int, nb: int) -> float:
    """Satterthwaite's degrees of freedom of sd_a^2 + sd_b^2 (each with n - 1 df)."""
    va, vb = sd_a**2, sd_b**2
    if va + vb == 0:
        return float(na + nb - 2)
    return (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
