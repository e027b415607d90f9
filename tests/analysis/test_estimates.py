"""Per-cell estimates and intervals, checked against scipy.stats / numpy on fixed inputs."""

import math

import numpy as np
import pytest
from scipy import stats as st

from ablation.analysis.estimates import estimate_cell, iqm
from ablation.analysis.intervals import (
    BCA,
    PERCENTILE,
    Interval,
    bootstrap_interval,
    clip,
    difference_bounds,
    mean_statistic,
    t_interval,
)

A = [97.1, 96.8, 97.4, 97.0, 96.9, 97.3, 96.7]
PERCENT = (0.0, 100.0)


def test_t_interval_matches_scipy():
    lo, hi = st.t.interval(0.95, len(A) - 1, loc=np.mean(A), scale=st.sem(A))
    ci = t_interval(A)
    assert (ci.low, ci.high, ci.method, ci.clipped) == (pytest.approx(lo), pytest.approx(hi),
                                                        "t", False)
    assert t_interval(A, 0.9).half < ci.half
    assert math.isnan(t_interval([1.0]).low)


def test_clip_intersects_with_the_range():
    assert clip(97.47, 100.67, "t", PERCENT) == Interval(97.47, 100.0, "t", True)
    assert clip(-1.0, 3.0, "t", (0.0, math.inf)) == Interval(0.0, 3.0, "t", True)
    assert clip(1.0, 2.0, "t", PERCENT).clipped is False
    assert clip(1.0, 2.0, "t", None) == Interval(1.0, 2.0, "t", False)
    assert difference_bounds(PERCENT) == (-100.0, 100.0)


def test_issue_example_adagrad_t_interval_is_clipped_at_100():
    # Three seeds near 100% (issue 15: adagrad's t-interval ran to 100.67).
    near = [99.9, 97.6, 99.95]
    assert st.t.interval(0.95, 2, loc=np.mean(near), scale=st.sem(near))[1] > 100
    est = estimate_cell(near, bounds=PERCENT)
    for ci in (est.t_ci, est.boot_ci):
        assert 0 <= ci.low <= ci.high <= 100
    assert est.t_ci.high == 100 and est.t_ci.clipped


def test_no_accuracy_interval_leaves_0_100_on_random_cells():
    rng = np.random.default_rng(7)
    for _ in range(30):
        n = int(rng.integers(2, 8))
        centre = rng.choice([0.5, 50.0, 99.5])
        values = np.clip(centre + rng.normal(0, 2.0, n), 0, 100)
        est = estimate_cell(values, bounds=PERCENT, n_resamples=999)
        for ci in (est.t_ci, est.boot_ci, est.iqm_ci):
            if ci.method:
                assert 0 <= ci.low <= ci.high <= 100


def test_bootstrap_interval_equals_scipy_called_directly():
    x = np.array(A)
    ref = st.bootstrap((x,), np.mean, method="BCa", rng=np.random.default_rng(3))
    ci = bootstrap_interval((x,), mean_statistic, seed=3)
    assert ci.method == BCA
    assert (ci.low, ci.high) == (pytest.approx(ref.confidence_interval.low),
                                 pytest.approx(ref.confidence_interval.high))
    assert bootstrap_interval((x,), mean_statistic, seed=3) == ci  # seeded: repeatable
    y = np.random.default_rng(0).normal(size=30)  # continuous: another seed moves the ends
    assert bootstrap_interval((y,), mean_statistic, seed=3) != bootstrap_interval(
        (y,), mean_statistic, seed=4)


@pytest.mark.filterwarnings("ignore::scipy.stats.DegenerateDataWarning")
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_bootstrap_falls_back_to_percentile_where_bca_is_undefined():
    # Constant values: the jackknife has no spread, BCa is NaN in scipy.
    ref = st.bootstrap((np.array([5.0, 5.0, 5.0]),), np.mean, method="BCa",
                       rng=np.random.default_rng(0))
    assert math.isnan(ref.confidence_interval.low)
    ci = bootstrap_interval((np.array([5.0, 5.0, 5.0]),), mean_statistic)
    assert (ci.low, ci.high, ci.method) == (5.0, 5.0, PERCENTILE)
    # Mostly-tied but not constant: BCa is defined and used, as scipy computes it.
    x = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 2.0])
    bca = st.bootstrap((x,), np.mean, method="BCa", rng=np.random.default_rng(0))
    ci = bootstrap_interval((x,), mean_statistic)
    assert ci.method == BCA and ci.high == pytest.approx(bca.confidence_interval.high)


def test_iqm_on_known_vectors():
    assert iqm([1, 2, 3, 4, 100]) == pytest.approx(3.0)  # trims 1 each end: mean(2, 3, 4)
    x = [8, 1, 7, 2, 6, 3, 5, 4]  # n = 8 trims 2 each end: mean(3, 4, 5, 6)
    assert iqm(x) == pytest.approx(4.5)
    assert iqm(x) == pytest.approx(st.trim_mean(x, 0.25))
    assert math.isnan(iqm([1, 2, 3, 4]))  # below n = 5: not reported


def test_estimate_cell_fields_match_numpy():
    est = estimate_cell(A, bounds=PERCENT, seed=1)
    assert est.n == 7 and est.mean == pytest.approx(np.mean(A))
    assert est.std == pytest.approx(np.std(A, ddof=1))
    assert est.iqm == pytest.approx(st.trim_mean(A, 0.25))
    assert est.iqm_ci.low <= est.iqm <= est.iqm_ci.high
    assert est.boot_ci.low < est.mean < est.boot_ci.high
    assert est.t_ci == t_interval(A, 0.95, PERCENT)


def test_estimate_cell_drops_missing_and_claims_no_spread_for_one_value():
    est = estimate_cell([0.9, None, math.nan])
    assert est.n == 1 and est.mean == 0.9 and math.isnan(est.std)
    assert est.t_ci.method == est.boot_ci.method == "" and math.isnan(est.iqm)
    assert estimate_cell([]).n == 0
