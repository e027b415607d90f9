"""How often the tables' bootstrap intervals cover the truth, by seed count (issue 19).

Usage: python benchmarks/bootstrap_coverage.py [--reps 1000] [--seeds 2,3,5,10,20]

Simulates normal per-seed values with known mean (sd 0.15 points, as the issue's audit) and
calls the same function the tables use (``analysis.intervals.bootstrap_interval``, 9,999
resamples, BCa else percentile) for the mean of a cell (= the paired Δ: the mean of the
differences) and for the unpaired Δ (two independent cells), and the t interval for
comparison. Prints the share of intervals that contain the true value; the figures are copied
into ``analysis.intervals.BOOT_COVERAGE`` and docs/statistics.md.
"""

from __future__ import annotations

import argparse

import numpy as np

from ablation.analysis.intervals import (
    N_RESAMPLES,
    bootstrap_interval,
    mean_difference,
    mean_statistic,
    t_interval,
)

SD, TRUE = 0.15, 0.0


def _covers(low: float, high: float, truth: float) -> bool:
    return bool(low <= truth <= high)


def coverage(n: int, reps: int, seed: int) -> tuple[float, float, float]:
    """Coverage of the bootstrap interval of a mean, of an unpaired Δ, and of the t interval."""
    rng = np.random.default_rng(seed)
    boot = unpaired = t = 0
    for r in range(reps):
        x, y = rng.normal(TRUE, SD, n), rng.normal(TRUE, SD, n)
        b = bootstrap_interval((x,), mean_statistic, seed=r, n_resamples=N_RESAMPLES)
        u = bootstrap_interval((x, y), mean_difference, seed=r, n_resamples=N_RESAMPLES)
        ti = t_interval(x)
        boot += _covers(b.low, b.high, TRUE)
        unpaired += _covers(u.low, u.high, 0.0)
        t += _covers(ti.low, ti.high, TRUE)
    return boot / reps, unpaired / reps, t / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--seeds", default="2,3,5,10,20")
    args = ap.parse_args()
    print("n  | bootstrap mean / paired Δ | bootstrap unpaired Δ | t interval")
    for n in (int(v) for v in args.seeds.split(",")):
        b, u, t = coverage(n, args.reps, seed=n)
        print(f"{n:2d} | {100 * b:5.1f}% | {100 * u:5.1f}% | {100 * t:5.1f}%", flush=True)


if __name__ == "__main__":
    main()
