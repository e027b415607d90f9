"""Per-cell estimates over seeds: mean, std, t and bootstrap CIs (clipped), interquartile mean."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from ablation.analysis.intervals import (
    N_RESAMPLES,
    NO_INTERVAL,
    Bounds,
    Interval,
    bootstrap_interval,
    mean_statistic,
    t_interval,
)

# IQM from 5 values up (issue 15): at n = 4 the 25% trim leaves the middle two values, and
# below 4 it trims nothing, so the "robust" mean would just be the mean.
IQM_MIN_N = 5


@dataclass(frozen=True)
class CellEstimate:
    """One cell (a configuration over its seeds): n, mean, sample std (ddof=1), the t and the
    bootstrap CI of the mean, and the interquartile mean with its bootstrap CI (n >= 5)."""

    n: int
    mean: float
    std: float
    t_ci: Interval
    boot_ci: Interval
    iqm: float
    iqm_ci: Interval
    level: float


def finite(values: Iterable[float | None]) -> np.ndarray:
    """The values as a float array, with None and NaN (failed or missing metrics) dropped."""
    x = np.asarray([float(v) for v in values if v is not None], dtype=float)
    return x[~np.isnan(x)]


def iqm_statistic(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean along ``axis``: ``scipy.stats.trim_mean`` cutting 25% at each end."""
    return np.asarray(_st.trim_mean(x, 0.25, axis=axis))


def iqm(values: Iterable[float | None]) -> float:
    """Interquartile mean (Agarwal et al. 2021): the mean after trimming int(n/4) values from
    each end, as rliable computes it with ``scipy.stats.trim_mean``; NaN below n = 5."""
    x = finite(values)
    return float(iqm_statistic(x)) if x.size >= IQM_MIN_N else math.nan


def estimate_cell(values: Iterable[float | None], bounds: Bounds = None, level: float = 0.95,
                  seed: int = 0, n_resamples: int = N_RESAMPLES) -> CellEstimate:
    """Estimates of one cell's values (any order; None/NaN dropped), CIs clipped to ``bounds``.

    The bootstrap is seeded by ``seed``: the same values and seed give the same interval.
    One value gives NaN spread and no interval rather than a fake zero.
    """
    x = finite(values)
    if x.size == 0:
        return CellEstimate(0, math.nan, math.nan, NO_INTERVAL, NO_INTERVAL, math.nan,
                            NO_INTERVAL, level)
    std = float(x.std(ddof=1)) if x.size >= 2 else math.nan
    boot = bootstrap_interval((x,), mean_statistic, level=level, seed=seed,
                              n_resamples=n_resamples, bounds=bounds)
    iqm_ci = NO_INTERVAL
    if x.size >= IQM_MIN_N:
        iqm_ci = bootstrap_interval((x,), iqm_statistic, level=level, seed=seed,
                                    n_resamples=n_resamples, bounds=bounds)
    return CellEstimate(int(x.size), float(x.mean()), std, t_interval(x, level, bounds), boot,
                        iqm(x), iqm_ci, level)
