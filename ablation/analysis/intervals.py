"""Confidence intervals: t-based and seeded bootstrap (BCa where defined, else percentile).

Every interval can be clipped to a metric's range (accuracy in percent lies in [0, 100], a time
is >= 0): a t interval of n = 3 seeds otherwise runs past 100% (issue 15: adagrad
[97.47, 100.67]). Clipping intersects the interval with the range; since the true mean lies in
the range, the clipped interval covers it whenever the unclipped one did.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

Bounds = tuple[float, float] | None  # a metric's (low, high); +-inf for an open side
T, BCA, PERCENTILE = "t", "bca", "percentile"
N_RESAMPLES = 9999  # scipy.stats.bootstrap's default; a CI end then moves < ~0.5% of its width


@dataclass(frozen=True)
class Interval:
    """A confidence interval, how it was made ('t', 'bca', 'percentile'; '' = none) and
    whether clipping to the metric's range moved an end."""

    low: float
    high: float
    method: str
    clipped: bool = False

    @property
    def half(self) -> float:
        """Half its width (NaN when there is no interval)."""
        return (self.high - self.low) / 2


NO_INTERVAL = Interval(math.nan, math.nan, "")


def clip(low: float, high: float, method: str, bounds: Bounds) -> Interval:
    """``[low, high]`` intersected with ``bounds`` (None: unbounded); NaN ends stay NaN."""
    if bounds is None or math.isnan(low) or math.isnan(high):
        return Interval(low, high, method)
    lo = float(min(max(low, bounds[0]), bounds[1]))
    hi = float(max(min(high, bounds[1]), bounds[0]))
    return Interval(lo, hi, method, (lo, hi) != (low, high))


def difference_bounds(bounds: Bounds) -> Bounds:
    """Range of a difference of two values in ``bounds`` (e.g. [-100, 100] for percent)."""
    return None if bounds is None else (bounds[0] - bounds[1], bounds[1] - bounds[0])


def t_interval(values: Sequence[float] | np.ndarray, level: float = 0.95,
               bounds: Bounds = None) -> Interval:
    """``mean +- t(1 - (1-level)/2, n-1) * std / sqrt(n)``, clipped; none below n = 2."""
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return NO_INTERVAL
    mean, sem = float(x.mean()), float(x.std(ddof=1)) / math.sqrt(x.size)
    half = float(_st.t.ppf(0.5 + level / 2, x.size - 1)) * sem
    return clip(mean - half, mean + half, T, bounds)


Statistic = Callable[..., np.ndarray]  # vectorised: statistic(*samples, axis=-1)


def bootstrap_interval(samples: Sequence[np.ndarray], statistic: Statistic, *,
                       paired: bool = False, level: float = 0.95, seed: int = 0,
                       n_resamples: int = N_RESAMPLES, bounds: Bounds = None) -> Interval:
    """Seeded ``scipy.stats.bootstrap`` interval: BCa where it is defined, else percentile.

    BCa (Efron 1987) corrects the percentile interval for bias and skew; it is undefined when
    the jackknife has no spread or every resample falls on one side of the estimate (scipy then
    returns NaN), and the percentile interval of the same resamples is used instead; ``method``
    says which. Needs >= 2 values in every sample (else no interval). ``paired`` resamples
    the samples' positions together (matched seeds).
    """
    if any(len(s) < 2 for s in samples):
        return NO_INTERVAL
    data = tuple(np.asarray(s, dtype=float) for s in samples)
    common = dict(paired=paired, vectorized=True, confidence_level=level, axis=-1)
    with warnings.catch_warnings():
        # Degenerate data is detected below from the NaN result, not from the warning.
        warnings.simplefilter("ignore", _st.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        res = _st.bootstrap(data, statistic, method="BCa", n_resamples=n_resamples,
                            rng=np.random.default_rng(seed), **common)
        method = BCA
        if not np.all(np.isfinite([res.confidence_interval.low, res.confidence_interval.high])):
            # n_resamples=0 reuses the BCa call's resamples: the same draws, another rule.
            res = _st.bootstrap(data, statistic, method="percentile", n_resamples=0,
                                bootstrap_result=res, rng=np.random.default_rng(seed),
                                **common)
            method = PERCENTILE
    return clip(float(res.confidence_interval.low), float(res.confidence_interval.high),
                method, bounds)


def mean_statistic(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean along ``axis`` (the bootstrap statistic of a cell's mean)."""
    return np.mean(x, axis=axis)


def mean_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    """mean(a) - mean(b) along ``axis`` (two independent samples)."""
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


# Measured coverage of the nominal-95% bootstrap interval (N_RESAMPLES, BCa else percentile)
# by seed count, normal values, 1,000 simulated cells each: benchmarks/bootstrap_coverage.py
# (docs/statistics.md). Of a mean (and of a paired Δ, the mean of the differences) ...
BOOT_COVERAGE_MEAN: dict[int, float] = {2: 0.513, 3: 0.730, 4: 0.811, 5: 0.846, 6: 0.851,
                                         8: 0.896, 10: 0.921, 12: 0.900, 15: 0.928,
                                         20: 0.936}
# ... and of an unpaired Δ (each side resampled on its own).
BOOT_COVERAGE_UNPAIRED: dict[int, float] = {2: 0.660, 3: 0.800, 4: 0.867, 5: 0.890,
                                             6: 0.896, 8: 0.907, 10: 0.920, 12: 0.916,
                                             15: 0.927, 20: 0.941}


def boot_coverage(n: int, paired: bool = True) -> float:
    """The measured coverage of a nominal-95% bootstrap interval from n values (a side): the
    nearest measured seed count at or below n; NaN below the smallest."""
    table = BOOT_COVERAGE_MEAN if paired else BOOT_COVERAGE_UNPAIRED
    known = [k for k in table if k <= n]
    return table[max(known)] if known else math.nan
