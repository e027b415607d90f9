"""Test-set noise apart from training noise (Jordan 2023), and McNemar's test (McNemar 1947).

A finite test set alone makes accuracies differ between seeds: Jordan (2023, arXiv 2304.01910)
finds that trained networks err on test examples nearly independently, each example i with its
own rate p_i over runs, so the across-seed variance of test accuracy on n examples is about
sum_i p_i (1 - p_i) / n^2 even when every run is equally good on the test *distribution*. What
exceeds that term is variance in the distribution-level quality between runs ("training noise").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from ablation.analysis.intervals import NO_INTERVAL, PERCENTILE, Interval

BINOMIAL, PER_EXAMPLE = "binomial", "per-example"


@dataclass(frozen=True)
class NoiseShare:
    """How much of a cell's across-seed variance of accuracy the finite test set explains.

    Variances are in the units the accuracies came in (``scale``=100: percent squared).
    ``share`` = test_var / observed_var (may exceed 1 by chance with few seeds);
    ``train_var`` = observed_var - test_var, the part left to training noise (negative: none
    detectable). ``share_ci`` reflects the few seeds (chi-square interval of the observed
    variance); ``test_var_ci`` is the bootstrap over test examples (per-example method only).
    """

    method: str  # "binomial" (an upper bound) or "per-example"
    runs: int
    n_test: int
    observed_var: float
    test_var: float
    test_var_ci: Interval
    share: float
    share_ci: Interval
    train_var: float
    level: float


def _share(method: str, runs: int, n_test: int, observed: float, test_var: float,
           test_ci: Interval, level: float) -> NoiseShare:
    share_ci = NO_INTERVAL
    if runs >= 2 and observed > 0:
        # (runs - 1) s^2 / sigma^2 ~ chi2(runs - 1) for normal accuracies: sigma^2's interval.
        lo_q, hi_q = _st.chi2.ppf([0.5 + level / 2, 0.5 - level / 2], runs - 1)
        var_lo, var_hi = (runs - 1) * observed / lo_q, (runs - 1) * observed / hi_q
        share_ci = Interval(float(test_var / var_hi), float(test_var / var_lo), "chi2")
    share = test_var / observed if observed > 0 else math.nan
    return NoiseShare(method, runs, n_test, observed, test_var, test_ci, share, share_ci,
                      observed - test_var, level)


def finite_test_noise(accuracies: Sequence[float], n_test: int, scale: float = 1.0,
                      level: float = 0.95) -> NoiseShare:
    """From per-seed accuracies alone: test_var = p(1 - p) / n at the mean accuracy p.

    This is the binomial variance of a run's accuracy on n test examples. Under Jordan's
    independent errors it bounds the test-set term from above (sum p_i(1-p_i)/n^2 <= p(1-p)/n,
    equal when every example is equally hard), so ``share`` here is an upper bound.
    ``scale`` is 100 when the accuracies are in percent.
    """
    x = np.asarray(accuracies, dtype=float) / scale
    if n_test < 1:
        raise ValueError("the test set needs at least one example")
    observed = float(x.var(ddof=1)) if x.size >= 2 else math.nan
    p = float(x.mean()) if x.size else math.nan
    return _share(BINOMIAL, int(x.size), n_test, observed * scale**2,
                  p * (1 - p) / n_test * scale**2, NO_INTERVAL, level)


def _example_term(correct: np.ndarray, weights: np.ndarray, n_test: int) -> np.ndarray:
    """sum_i w_i v_i / n^2 with v_i the unbiased p_i(1-p_i) over runs (R/(R-1) p^(1-p^))."""
    runs = correct.shape[0]
    rate = correct.mean(axis=0)
    v = rate * (1 - rate) * runs / (runs - 1)
    return np.asarray(weights @ v) / n_test**2


def finite_test_noise_examples(correct: np.ndarray, scale: float = 1.0, level: float = 0.95,
                               seed: int = 0, n_resamples: int = 2000) -> NoiseShare:
    """From per-example correctness (runs x examples, bool): Jordan's independent-errors term.

    test_var = sum_i v_i / n^2 with v_i = R/(R-1) p_i(1-p_i) (unbiased over R runs). Its CI is
    a seeded percentile bootstrap over test examples: a resample's accuracies and rates weight
    example i by its multinomial count, so only the examples the runs disagree on need drawing
    (an example every run got right, or wrong, shifts every run's accuracy alike).
    """
    c = np.asarray(correct, dtype=bool)
    if c.ndim != 2 or c.shape[0] < 2 or c.shape[1] < 1:
        raise ValueError("correctness must be runs x examples with at least 2 runs")
    runs, n = c.shape
    acc = c.mean(axis=1)
    observed = float(acc.var(ddof=1))
    test_var = float(_example_term(c, np.ones(n), n))
    split = c[:, c.any(axis=0) & ~c.all(axis=0)]  # examples the runs disagree on
    m = split.shape[1]
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n, np.append(np.full(m, 1 / n), max(0.0, 1 - m / n)), size=n_resamples)
    boot = _example_term(split, counts[:, :m].astype(float), n)
    lo, hi = np.quantile(boot, [0.5 - level / 2, 0.5 + level / 2])
    test_ci = Interval(float(lo) * scale**2, float(hi) * scale**2, PERCENTILE)
    return _share(PER_EXAMPLE, runs, n, observed * scale**2, test_var * scale**2, test_ci,
                  level)


@dataclass(frozen=True)
class McNemar:
    """McNemar's exact test between two trials on the same test examples."""

    both: int  # examples both got right
    only_a: int  # right by A, wrong by B
    only_b: int
    neither: int
    p: float  # two-sided exact binomial p on the discordant examples (1.0 when there are none)


def correctness(predicted: np.ndarray | Sequence[int],
                labels: np.ndarray | Sequence[int]) -> np.ndarray:
    """Per-example bool: predicted label equals the true label."""
    pred, true = np.asarray(predicted), np.asarray(labels)
    if pred.shape != true.shape:
        raise ValueError(f"{pred.size} predictions for {true.size} labels")
    return pred == true


def mcnemar_exact(correct_a: np.ndarray | Sequence[bool],
                  correct_b: np.ndarray | Sequence[bool]) -> McNemar:
    """McNemar (1947), exact form: under "A and B are equally accurate" each discordant
    example is A's with probability 1/2, so p = ``scipy.stats.binomtest(only_a, only_a +
    only_b, 0.5)``."""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError("McNemar's test needs both trials on the same test examples")
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    p = 1.0 if only_a + only_b == 0 else float(_st.binomtest(only_a, only_a + only_b).pvalue)
    return McNemar(int(np.sum(a & b)), only_a, only_b, int(np.sum(~a & ~b)), p)


# Two-sided 95%: the margin is the half-width of a 95% interval of a single-run difference.
MARGIN_Z = 1.959963984540054


def default_margin(mean: float, n_test: int, scale: float = 100.0) -> float:
    """The default equivalence margin: the smallest difference in accuracy the test set itself
    resolves, z_0.975 * sqrt(2 p (1 - p) / n_test) at p = mean / scale (two runs erring
    independently on n_test examples; docs/statistics.md), and at least one example.

    ``mean`` (the baseline's mean accuracy) and the result are in display units: points of
    percent when ``scale`` is 100. NaN when there is no test set or no mean.
    """
    if n_test < 1 or math.isnan(mean):
        return math.nan
    p = min(max(mean / scale, 0.0), 1.0)
    # at least one example; at most the whole range (a test set of one or two examples)
    return min(max(MARGIN_Z * math.sqrt(2 * p * (1 - p) / n_test), 1 / n_test), 1.0) * scale
