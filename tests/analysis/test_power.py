"""Seeds needed for 80% power, against textbook values and a brute-force simulation."""

import math

import numpy as np
import pytest
from scipy import stats as st

from ablation.analysis.power import (
    SD_CONFIDENCE,
    power_paired,
    power_welch,
    sd_upper,
    seeds_needed,
    seeds_needed_paired,
    seeds_needed_welch,
)


def test_textbook_sample_sizes():
    # Cohen's d = 0.5 at alpha 0.05, 80% power: 34 pairs (paired), 64 per group (two-sample).
    assert seeds_needed_paired(1.0, 0.5).n == 34
    assert seeds_needed_welch(1.0, 1.0, 0.5).n == 64
    r = seeds_needed_paired(0.3, 0.1)  # in metric units: 0.1 points against sd 0.3
    assert r.power >= 0.8 > power_paired(r.n - 1, 0.1, 0.3)


def _rejection_rate(rng, sims, n, detect, sd_a, sd_b, paired, rho=0.5):
    a = rng.standard_normal((sims, n))
    if paired:
        b = rho * a + math.sqrt(1 - rho**2) * rng.standard_normal((sims, n))
        return np.mean(st.ttest_rel(sd_a * a + detect, sd_b * b, axis=1).pvalue < 0.05)
    b = rng.standard_normal((sims, n))
    return np.mean(st.ttest_ind(sd_a * a + detect, sd_b * b, axis=1,
                                equal_var=False).pvalue < 0.05)


def test_paired_power_matches_simulation():
    rng = np.random.default_rng(0)
    sd_a = sd_b = 0.3
    sd_diff = math.sqrt(sd_a**2 + sd_b**2 - 2 * 0.5 * sd_a * sd_b)
    r = seeds_needed_paired(sd_diff, 0.25)
    sim = _rejection_rate(rng, 20_000, r.n, 0.25, sd_a, sd_b, True)
    assert sim == pytest.approx(r.power, abs=0.015)  # 3 standard errors of 20,000 draws
    assert _rejection_rate(rng, 20_000, r.n - 1, 0.25, sd_a, sd_b, True) < 0.8 + 0.01


def test_welch_power_matches_simulation():
    rng = np.random.default_rng(1)
    r = seeds_needed_welch(0.2, 0.5, 0.4)  # unequal spreads: Welch's approximation
    sim = _rejection_rate(rng, 20_000, r.n, 0.4, 0.2, 0.5, False)
    assert sim == pytest.approx(r.power, abs=0.02)
    assert power_welch(r.n - 1, 0.4, 0.2, 0.5) < 0.8 <= r.power


def test_seeds_needed_from_observed_values():
    a = {0: 97.1, 1: 96.8, 2: 97.4, 3: 97.0}
    b = {0: 96.9, 1: 96.5, 2: 97.3, 3: 96.6}
    r = seeds_needed(a, b, 0.1)
    d = np.array(list(a.values())) - np.array(list(b.values()))
    up = sd_upper(d.std(ddof=1), 3)
    assert r.test == "paired" and r.sd == pytest.approx(d.std(ddof=1))
    assert (r.sd_planned, r.df, r.confidence) == (pytest.approx(up), 3, SD_CONFIDENCE)
    assert r.n == seeds_needed_paired(up, 0.1).n
    plug_in = seeds_needed(a, b, 0.1, confidence=None)
    assert plug_in.n == seeds_needed_paired(d.std(ddof=1), 0.1).n < r.n
    w = seeds_needed(a, {10 + k: v for k, v in b.items()}, 0.1, confidence=None)
    assert w.test == "welch" and w.n == seeds_needed_welch(
        np.std(list(a.values()), ddof=1), np.std(list(b.values()), ddof=1), 0.1).n
    assert seeds_needed(a, {10 + k: v for k, v in b.items()}, 0.1).n > w.n
    assert seeds_needed({0: 1.0, 1: 2.0}, b, 0.1).n is None  # < 3 values: no spread yet
    assert seeds_needed(a, b, 0.1, alpha=0.05 / 7).n > r.n  # Holm's first step over 7 cells


def test_sd_upper_bound_is_the_chi_square_quantile():
    rng = np.random.default_rng(3)
    sds = rng.standard_normal((40_000, 3)).std(axis=1, ddof=1)  # true sd 1, 2 df
    bounds = np.array([sd_upper(s, 2) for s in sds[:4000]])
    assert np.mean(bounds >= 1.0) == pytest.approx(SD_CONFIDENCE, abs=0.025)
    assert sd_upper(1.0, 2) == pytest.approx(np.sqrt(2 / st.chi2.ppf(0.25, 2)))
    assert math.isnan(sd_upper(math.nan, 2)) and math.isnan(sd_upper(1.0, 0))


def test_plans_from_three_seeds_deliver_the_power_on_average():
    # Exact average over the chi-square law of a 3-seed pilot's sd (true sd 1): the plug-in
    # plan falls short of 80%, the upper-bound plan reaches it.
    alpha, detect = 0.05 / 7, 1.5
    qs = (np.arange(200) + 0.5) / 200
    pilots = np.sqrt(st.chi2.ppf(qs, 2) / 2)

    def delivered(scale):
        return np.mean([power_paired(max(3, seeds_needed_paired(s * scale, detect, alpha).n),
                                     detect, 1.0, alpha) for s in pilots])

    assert delivered(1.0) < 0.75
    assert delivered(sd_upper(1.0, 2)) >= 0.8


def test_edge_cases():
    assert seeds_needed_paired(0.0, 0.1).n == 3  # no noise: any difference shows, from 3 seeds
    assert seeds_needed_paired(1.0, 1e-3).n is None  # beyond 10,000 seeds
    assert seeds_needed_paired(math.nan, 0.1).n is None
    assert power_paired(5000, 0.5, 1.0) == pytest.approx(1.0)  # scipy's nct NaN tail handled


def test_power_where_scipys_noncentral_t_fails_matches_simulation():
    # df 2, noncentrality 8: scipy.stats.nct gives NaN here, and the normal approximation
    # 7e-5; the chi-square average gives the simulated ~0.37.
    rng = np.random.default_rng(5)
    crit = st.t.ppf(1 - 0.0071 / 2, 2)
    t = (rng.standard_normal(200_000) + 8) / np.sqrt(rng.chisquare(2, 200_000) / 2)
    assert power_paired(3, 8 / math.sqrt(3), 1.0, 0.0071) == pytest.approx(
        np.mean(np.abs(t) > crit), abs=0.005)
