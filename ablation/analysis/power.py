"""How many seeds a cell needs (Colas et al. 2018, arXiv 1806.08295): power of the two-sided
paired and Welch t-tests from the noncentral t, and the smallest n that reaches a target."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from ablation.analysis.contrasts import PAIRED, WELCH, pair_up

TARGET_POWER = 0.8  # the convention Colas et al. (2018) use
MAX_SEEDS = 10_000  # past this, report "not reachable" rather than search on


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


def _two_sided_power(nc: float, df: float, alpha: float) -> float:
    crit = float(_st.t.ppf(1 - alpha / 2, df))
    power = float(_st.nct.sf(crit, df, nc) + _st.nct.cdf(-crit, df, nc))
    if math.isnan(power):
        # scipy's noncentral t gives NaN far in the tail (large nc and df, e.g. nc 35 at
        # df 5000); there the normal approximation of the t statistic is exact to ~1e-4.
        power = float(_st.norm.sf(crit - nc) + _st.norm.cdf(-crit - nc))
    return power


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
    """Smallest n in [2, MAX_SEEDS] with power_at(n) >= target (power grows with n)."""
    if power_at(MAX_SEEDS) < target:
        return None
    lo, hi = 2, MAX_SEEDS
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
                 alpha: float = 0.05, target: float = TARGET_POWER) -> SeedsNeeded:
    """From observed seeds: the paired plan over shared seeds (sd of their differences), else
    Welch's from each side's sd. For m comparisons under Holm pass ``alpha / m`` (Holm's
    first step) to plan conservatively."""
    pair = pair_up(values, reference)
    if len(pair.a) < 2 or len(pair.b) < 2:
        test = PAIRED if pair.paired else WELCH
        return SeedsNeeded(None, math.nan, test, detect, alpha, target, math.nan)
    if pair.paired:
        return seeds_needed_paired(float(np.std(pair.a - pair.b, ddof=1)), detect, alpha, target)
    return seeds_needed_welch(float(np.std(pair.a, ddof=1)), float(np.std(pair.b, ddof=1)),
                              detect, alpha, target)
