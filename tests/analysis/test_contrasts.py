"""A cell against the baseline: pairing, t-tests, difference CIs, P(improvement), effect size."""

import math

import numpy as np
import pytest
from scipy import special as sp
from scipy import stats as st

from ablation.analysis.contrasts import (
    contrast,
    diff_boot_interval,
    diff_t_interval,
    effect_size,
    equivalence_p,
    pair_up,
    paired_differences,
    prob_improvement,
    prob_improvement_interval,
    t_test,
)

A = [97.1, 96.8, 97.4, 97.0, 96.9]
B = [96.5, 96.1, 96.9, 96.6, 96.2]


def seeds(xs, start=0):
    return {start + i: x for i, x in enumerate(xs)}


def test_pair_up_keeps_shared_seeds_only():
    p = pair_up({0: 1.0, 1: 2.0, 2: 3.0, 7: 9.0}, {2: 0.5, 0: 0.1, 1: 0.2, 5: 4.0})
    assert p.paired and p.seeds == (0, 1, 2)
    assert list(p.a) == [1.0, 2.0, 3.0] and list(p.b) == [0.1, 0.2, 0.5]
    q = pair_up({0: 1.0, 1: 2.0}, {1: 0.5, 2: 0.7, 3: 0.9})  # one shared seed: unpaired
    assert not q.paired and len(q.a) == 2 and len(q.b) == 3
    two = pair_up({0: 1.0, 1: 2.0, 4: 3.0}, {0: 0.5, 1: 0.7, 3: 0.9})  # two: no paired test
    assert not two.paired and len(two.a) == 3
    assert paired_differences({0: 1.0, 1: 2.0}, {1: 0.5, 2: 0.7}) == {1: 1.5}


def test_t_test_is_scipy_paired_or_welch():
    r = t_test(pair_up(seeds(A), seeds(B)))
    ref = st.ttest_rel(A, B)
    assert r.test == "paired" and r.p == pytest.approx(ref.pvalue)
    assert r.t == pytest.approx(ref.statistic) and r.diff == pytest.approx(np.mean(A) - np.mean(B))
    w = t_test(pair_up(seeds(A), seeds(B, 10)))
    ref = st.ttest_ind(A, B, equal_var=False)
    assert w.test == "welch" and w.p == pytest.approx(ref.pvalue) and w.df == pytest.approx(ref.df)
    assert t_test(pair_up({0: 1.0}, seeds(B))) is None
    assert t_test(pair_up(seeds(A[:2]), seeds(B[:2]))) is None  # n = 2: no test


def test_no_test_without_spread_and_no_crash_on_a_zero_mean_difference():
    base, adam = [98.8858, 99.1643, 98.8858], [99.1643, 98.8858, 98.8858]  # issue 19
    pair = pair_up(seeds(adam), seeds(base))
    r = t_test(pair)
    assert r.diff == pytest.approx(0) and r.p == pytest.approx(1.0)
    ci = diff_t_interval(pair)
    assert ci.low < 0 < ci.high and ci.half == pytest.approx(
        st.t.ppf(0.975, 2) * np.std(np.array(adam) - base, ddof=1) / math.sqrt(3))
    # identical paired differences, up to float noise: no evidence of a difference
    shifted = pair_up(seeds([b + 0.2785 for b in base]), seeds(base))
    assert math.isnan(t_test(shifted).p) and math.isnan(equivalence_p(shifted, 1.0))
    assert diff_t_interval(shifted).half == 0


def test_equivalence_p_is_two_one_sided_tests():
    pair = pair_up(seeds(A), seeds(B))
    d = np.array(A) - np.array(B)
    for margin in (0.3, 0.6, 1.0):
        lower = st.ttest_1samp(d, -margin, alternative="greater").pvalue
        upper = st.ttest_1samp(d, margin, alternative="less").pvalue
        assert equivalence_p(pair, margin) == pytest.approx(max(lower, upper))
    # p < alpha exactly when the (1 - 2 alpha) interval lies inside the margin
    ci = diff_t_interval(pair, 0.9)
    edge = max(abs(ci.low), abs(ci.high))
    assert equivalence_p(pair, edge * 1.001) < 0.05 < equivalence_p(pair, edge * 0.999)
    assert math.isnan(equivalence_p(pair, None)) and math.isnan(equivalence_p(pair, 0.0))


def test_diff_t_interval_matches_scipy_confidence_interval():
    for other in (seeds(B), seeds(B, 10)):
        pair = pair_up(seeds(A), other)
        ref = (st.ttest_rel(A, B) if pair.paired
               else st.ttest_ind(A, B, equal_var=False)).confidence_interval(0.9)
        ci = diff_t_interval(pair, 0.9)
        assert (ci.low, ci.high) == (pytest.approx(ref.low), pytest.approx(ref.high))


def test_diff_intervals_are_clipped_to_the_difference_range():
    a, b = seeds([99.9, 99.0, 99.95]), seeds([0.5, 2.0, 0.1])
    for ci in (diff_t_interval(pair_up(a, b), bounds=(0.0, 100.0)),
               diff_boot_interval(pair_up(a, b), bounds=(0.0, 100.0))):
        assert -100 <= ci.low <= ci.high <= 100


def test_diff_boot_interval_equals_scipy_called_directly():
    pair = pair_up(seeds(A), seeds(B))
    d = np.array(A) - np.array(B)
    ref = st.bootstrap((d,), np.mean, rng=np.random.default_rng(5))
    ci = diff_boot_interval(pair, seed=5)
    assert ci.low == pytest.approx(ref.confidence_interval.low)
    unpaired = pair_up(seeds(A), seeds(B, 10))
    ref = st.bootstrap((np.array(A), np.array(B)), lambda x, y, axis: x.mean(axis) - y.mean(axis),
                       rng=np.random.default_rng(5))
    ci = diff_boot_interval(unpaired, seed=5)
    assert (ci.low, ci.high) == (pytest.approx(ref.confidence_interval.low),
                                 pytest.approx(ref.confidence_interval.high))


def test_prob_improvement_paired_by_hand():
    # Seeds 0..3: A wins on 0 and 2, ties on 1, loses on 3 -> (2 + 0.5) / 4.
    a, b = {0: 5.0, 1: 3.0, 2: 4.0, 3: 1.0}, {0: 4.0, 1: 3.0, 2: 2.0, 3: 2.0}
    assert prob_improvement(pair_up(a, b), higher_better=True) == pytest.approx(0.625)
    # Lower is better (a loss): wins become losses, the tie stays 1/2.
    assert prob_improvement(pair_up(a, b), higher_better=False) == pytest.approx(0.375)


def test_prob_improvement_unpaired_by_hand_and_as_mann_whitney():
    a, b = seeds([1.0, 3.0, 5.0]), seeds([2.0, 3.0], 10)
    # Pairs (a, b): (1,2) L, (1,3) L, (3,2) W, (3,3) T, (5,2) W, (5,3) W -> 3.5 / 6.
    assert prob_improvement(pair_up(a, b), True) == pytest.approx(3.5 / 6)
    x, y = np.array(A), np.array(B) + 0.4
    u = st.mannwhitneyu(x, y).statistic
    assert prob_improvement(pair_up(seeds(A), seeds(list(y), 10)), True) == pytest.approx(
        u / (len(x) * len(y)))


def test_prob_improvement_interval_is_clopper_pearson():
    b = [v + 0.55 for v in B]  # A wins on 2 of 5 seeds, no ties
    pair = pair_up(seeds(A), seeds(b))
    wins = int(np.sum(np.array(A) > np.array(b)))
    ref = st.binomtest(wins, len(A)).proportion_ci(0.95, method="exact")
    ci = prob_improvement_interval(pair, True)
    assert ci.method == "clopper-pearson" and ci.low <= prob_improvement(pair, True) <= ci.high
    assert (ci.low, ci.high) == (pytest.approx(ref.low), pytest.approx(ref.high))
    # unpaired: the all-pairs estimand has no exact interval here, so none is claimed
    assert math.isnan(prob_improvement_interval(pair_up(seeds(A), seeds(b, 10)), True).low)


def test_prob_improvement_interval_when_every_seed_wins():
    # 3 of 3 won: the exact interval is [0.29, 1], not [1, 1] (issue 19)
    ci = prob_improvement_interval(pair_up(seeds(A[:3]), seeds(B[:3])), True)
    assert ci.low == pytest.approx(0.2924, abs=1e-4) and ci.high == 1.0


def test_prob_improvement_interval_with_ties_brackets_both_readings():
    a, b = {0: 5.0, 1: 3.0, 2: 4.0, 3: 1.0}, {0: 4.0, 1: 3.0, 2: 2.0, 3: 2.0}  # W T W L
    ci = prob_improvement_interval(pair_up(a, b), True)
    low = st.binomtest(2, 4).proportion_ci(method="exact").low  # ties as losses
    high = st.binomtest(3, 4).proportion_ci(method="exact").high  # ties as wins
    assert (ci.low, ci.high) == (pytest.approx(low), pytest.approx(high))


def test_effect_sizes_by_formula():
    pair = pair_up(seeds(A), seeds(B))
    d = np.array(A) - np.array(B)
    e = effect_size(pair)
    assert e.name == "cohen_dz" and e.value == pytest.approx(d.mean() / d.std(ddof=1))
    a, b = np.array([1.0, 2.0, 4.0, 5.0]), np.array([0.0, 1.5, 2.0])
    g = effect_size(pair_up(seeds(list(a)), seeds(list(b), 10)))
    df = len(a) + len(b) - 2
    pooled = np.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / df)
    j = sp.gamma(df / 2) / (np.sqrt(df / 2) * sp.gamma((df - 1) / 2))
    assert g.name == "hedges_g" and g.value == pytest.approx(j * (a.mean() - b.mean()) / pooled)
    assert j == pytest.approx(1 - 3 / (4 * df - 1), abs=0.01)  # Hedges' usual approximation
    assert math.isnan(effect_size(pair_up({0: 1.0}, seeds(B))).value)


def test_contrast_collects_everything_consistently():
    c = contrast(seeds(A), seeds(B), True, bounds=(0.0, 100.0), seed=1)
    assert c.paired and c.n == c.n_ref == 5
    assert c.diff == pytest.approx(np.mean(np.array(A) - np.array(B)))
    assert c.t_ci.low < c.diff < c.t_ci.high and c.boot_ci.low < c.diff < c.boot_ci.high
    assert c.p_improve == 1.0 and c.effect.name == "cohen_dz"
    assert contrast(seeds(A), seeds(B), True, seed=1) == contrast(seeds(A), seeds(B), True,
                                                                    seed=1)
    empty = contrast({}, seeds(B), True)
    assert math.isnan(empty.diff) and math.isnan(empty.p_improve)


def test_zero_mean_difference_with_spread_has_a_t_interval_around_zero():
    from ablation.analysis.contrasts import diff_t_interval, pair_up

    pair = pair_up({0: 1.0, 1: 2.0, 2: 3.0}, {0: 2.0, 1: 2.0, 2: 2.0})  # d = -1, 0, +1
    ci = diff_t_interval(pair)
    assert ci.low < 0 < ci.high and abs(ci.low + ci.high) < 1e-12
    unpaired = pair_up({0: 1.0, 1: 3.0}, {5: 2.0, 6: 2.0, 7: 2.0})
    ci = diff_t_interval(unpaired)
    assert ci.low < 0 < ci.high
