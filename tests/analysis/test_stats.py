"""Statistics over seeds, checked against scipy.stats on fixed inputs."""

import math

import pytest
from scipy import stats as st

from ablation.analysis.stats import (
    BETTER,
    SAME,
    UNTESTED,
    WORSE,
    adjust_family,
    compare,
    higher_is_better,
    holm,
    paired_test,
    rank_groups,
    summarize,
    welch_test,
)

A = [97.1, 96.8, 97.4, 97.0, 96.9]
B = [96.5, 96.1, 96.9, 96.6, 96.2]  # tracks A seed by seed, 0.5 lower


def seeds(xs):
    return dict(enumerate(xs))


def test_summarize_matches_scipy():
    s = summarize(A)
    lo, hi = st.t.interval(0.95, len(A) - 1, loc=st.tmean(A), scale=st.sem(A))
    assert s.n == 5 and s.mean == pytest.approx(sum(A) / 5)
    assert s.std == pytest.approx(st.tstd(A))
    assert (s.ci_low, s.ci_high) == (pytest.approx(lo), pytest.approx(hi))


def test_summarize_n1_has_no_fake_spread():
    s = summarize([0.9])
    assert s.n == 1 and s.mean == 0.9 and math.isnan(s.std) and math.isnan(s.ci_half)


def test_welch_matches_scipy():
    ours = welch_test(A, B)
    ref = st.ttest_ind(A, B, equal_var=False)
    assert ours.t == pytest.approx(ref.statistic) and ours.p == pytest.approx(ref.pvalue)
    assert ours.df == pytest.approx(ref.df)


def test_welch_unequal_sizes_matches_scipy():
    a, b = [0.1, 0.5, 0.3], [0.2, 0.25, 0.21, 0.3, 0.22, 0.28]
    assert welch_test(a, b).p == pytest.approx(st.ttest_ind(a, b, equal_var=False).pvalue)


def test_paired_matches_scipy():
    ours = paired_test(A, B)
    ref = st.ttest_rel(A, B)
    assert ours.t == pytest.approx(ref.statistic) and ours.p == pytest.approx(ref.pvalue)


def test_tests_refuse_too_few_values():
    with pytest.raises(ValueError):
        welch_test([1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        paired_test([1.0, 2.0], [1.0])


def test_compare_uses_paired_test_when_seeds_match():
    c = compare(seeds(A), seeds(B), higher_better=True)
    assert c.test == "paired" and c.p == pytest.approx(st.ttest_rel(A, B).pvalue)
    assert c.welch_p == pytest.approx(st.ttest_ind(A, B, equal_var=False).pvalue)
    assert c.diff == pytest.approx(sum(A) / 5 - sum(B) / 5)
    assert c.p < 0.05 and c.verdict == BETTER  # higher accuracy


def test_compare_respects_direction_and_level():
    assert compare(seeds(A), seeds(B), higher_better=False).verdict == WORSE  # e.g. loss
    assert compare(seeds(B), seeds(A), higher_better=True).verdict == WORSE
    p = compare(seeds(A), seeds(B), higher_better=True).p
    assert compare(seeds(A), seeds(B), True, level=p / 2).verdict == SAME


def test_compare_uses_welch_when_seeds_differ():
    other = {s + 10: v for s, v in seeds(B).items()}
    c = compare(seeds(A), other, higher_better=True)
    assert c.test == "welch" and c.p == pytest.approx(st.ttest_ind(A, B, equal_var=False).pvalue)


def test_compare_n1_is_untested_without_p():
    c = compare({0: 97.0}, seeds(B), higher_better=True)
    assert c.verdict == UNTESTED and c.note == "n<2" and math.isnan(c.p) and c.test == ""
    assert c.diff == pytest.approx(97.0 - sum(B) / 5)


def test_compare_identical_constants_is_indistinguishable_not_significant():
    c = compare({0: 1.0, 1: 1.0}, {0: 1.0, 1: 1.0}, True)
    assert c.verdict == SAME and c.note == "no spread" and math.isnan(c.p)


def test_noise_sized_difference_is_indistinguishable():
    # Study 002's 88.37% vs 88.44%: inside seed noise of a few tenths.
    a, b = [88.37, 88.9, 88.1], [88.44, 88.0, 88.8]
    assert compare(seeds(a), seeds(b), True).verdict == SAME


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")
def test_constant_nonzero_differences_follow_scipy():
    a, b = [1.0, 2.0, 3.0], [2.0, 3.0, 4.0]
    assert paired_test(a, b).p == st.ttest_rel(a, b).pvalue == 0.0
    assert compare(seeds(a), seeds(b), True).verdict == WORSE


def test_direction_by_metric_name():
    assert higher_is_better("test_accuracy") and higher_is_better("macro_f1")
    assert not higher_is_better("test_loss") and not higher_is_better("train_seconds")


def test_rank_groups_ties_indistinguishable():
    best = seeds([99.0, 99.1, 98.9])
    close = seeds([98.95, 99.05, 99.0])  # not distinguishable from best
    mid = seeds([97.0, 97.1, 96.9])
    low = seeds([90.0, 90.2, 89.9])
    ranks = rank_groups([mid, best, low, close], higher_better=True)
    assert ranks == [3, 1, 4, 1]


def test_rank_groups_lower_is_better_and_n1_ties():
    fast, slow = seeds([1.0, 1.1, 0.9]), seeds([5.0, 5.1, 4.9])
    assert rank_groups([slow, fast], higher_better=False) == [2, 1]
    # n = 1 cannot be told apart from anything: it shares the leader's rank, honestly.
    assert rank_groups([{0: 50.0}, fast, {}], higher_better=True) == [1, 1, 3]


def test_holm_adjusts_by_rank_and_keeps_monotone_order():
    # m = 4; sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, 2*0.03, max(0.06, 1*0.04)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    out = holm([math.nan, 0.02, 0.5])  # untested stays NaN and is not part of the family
    assert math.isnan(out[0]) and out[1:] == pytest.approx([0.04, 0.5])
    assert holm([0.9, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1, never below the max
    assert holm([]) == []


def test_adjust_family_turns_a_narrow_verdict_indistinguishable():
    base = {0: 0.90, 1: 0.91, 2: 0.92}
    close = compare({0: 0.93, 1: 0.935, 2: 0.955}, base, True, 0.05)
    far = compare({0: 0.99, 1: 0.995, 2: 1.005}, base, True, 0.05)
    assert close.verdict == far.verdict == BETTER
    plain = adjust_family([close, far], True, 0.05)
    assert [c.verdict for c in plain] == [BETTER, BETTER]  # "none" only fills in p_holm
    expected = holm([close.p, far.p])
    assert [c.p_holm for c in plain] == pytest.approx(expected)
    corrected = adjust_family([close, far], True, 0.05, "holm")
    for c, p_adj in zip(corrected, expected, strict=True):
        assert c.verdict == (BETTER if p_adj < 0.05 else SAME)
    with pytest.raises(ValueError):
        adjust_family([close], True, 0.05, "bonferroni-ish")
