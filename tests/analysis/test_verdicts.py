"""Many cells against one baseline: p, adjusted p, verdict and rank under one adjustment."""

import math

import numpy as np
import pytest
from scipy import stats as st

from ablation.analysis.stats import (
    BETTER,
    EQUIVALENT,
    INCONCLUSIVE,
    UNTESTED,
    WORSE,
    holm,
)
from ablation.analysis.verdicts import (
    ADJUSTMENTS,
    DUNNETT,
    DUNNETT_FALLBACK,
    HOLM,
    NONE,
    compare_many,
    judge_cells,
    verdict_for,
)
from ablation.errors import UserError

BASE = [96.5, 96.1, 96.9, 96.6, 96.2]
CELLS = [[97.1, 96.8, 97.4, 97.0, 96.9],  # about +0.5, tracks the baseline seed by seed
         [96.45, 96.2, 96.8, 96.5, 96.3],  # about the same
         [95.1, 95.9, 95.0, 95.6, 94.9],  # clearly worse
         [96.9, 96.0, 97.1, 96.3, 96.8]]  # a little better, noisily


def seeds(xs, start=0):
    return {start + i: x for i, x in enumerate(xs)}


def test_holm_and_none_use_scipy_paired_tests_and_holm():
    raw = [st.ttest_rel(c, BASE).pvalue for c in CELLS]
    plain = compare_many([seeds(c) for c in CELLS], seeds(BASE), True, adjust=NONE)
    assert [d.p for d in plain] == pytest.approx(raw) and [d.p_adj for d in plain] == [
        d.p for d in plain]
    held = compare_many([seeds(c) for c in CELLS], seeds(BASE), True, adjust=HOLM)
    assert [d.p for d in held] == pytest.approx(raw)
    assert [d.p_adj for d in held] == pytest.approx(holm(raw))
    assert all(d.test == "paired" and d.adjustment == HOLM for d in held)


def test_dunnett_matches_scipy_dunnett():
    ds = compare_many([seeds(c) for c in CELLS], seeds(BASE), True, adjust=DUNNETT, seed=3)
    ref = st.dunnett(*CELLS, control=BASE, rng=np.random.default_rng(3))
    assert [d.p_adj for d in ds] == pytest.approx(np.maximum(ref.pvalue, [d.p for d in ds]))
    # The raw p is the same pooled-variance t statistic, unadjusted.
    groups = [*CELLS, BASE]
    df = sum(len(g) for g in groups) - len(groups)
    pooled = sum((len(g) - 1) * np.var(g, ddof=1) for g in groups) / df
    for d, c in zip(ds, CELLS, strict=True):
        t = (np.mean(c) - np.mean(BASE)) / np.sqrt(pooled * (1 / len(c) + 1 / len(BASE)))
        assert d.p == pytest.approx(2 * st.t.sf(abs(t), df))
        assert d.diff == pytest.approx(np.mean(c) - np.mean(BASE)) and d.test == DUNNETT
        # Between raw and Bonferroni, up to scipy's integration error (~1e-4 absolute).
        assert d.p <= d.p_adj <= min(1.0, len(CELLS) * d.p) + 2e-4


def test_dunnett_with_one_cell_is_the_pooled_t_test():
    d = compare_many([seeds(CELLS[3])], seeds(BASE), True, adjust=DUNNETT)[0]
    ref = st.ttest_ind(CELLS[3], BASE, equal_var=True).pvalue
    assert d.p == pytest.approx(ref) and d.p_adj == pytest.approx(ref, abs=1e-3)


@pytest.mark.parametrize("adjust", ADJUSTMENTS)
def test_verdict_is_made_from_the_adjusted_p(adjust):
    rng = np.random.default_rng(11)
    for _ in range(12):
        base = seeds(list(96 + rng.normal(0, 0.3, 4)))
        cells = [seeds(list(96 + rng.normal(rng.choice([-0.6, 0, 0.6]), 0.3, 4)))
                 for _ in range(5)]
        for up in (True, False):
            for d in compare_many(cells, base, up, 0.05, adjust):
                assert d.verdict == verdict_for(d.diff, d.p_adj, 0.05, up)
                assert d.p_adj >= d.p - 1e-12
                assert d.adjustment in ((adjust, DUNNETT_FALLBACK) if adjust == DUNNETT
                                        else (adjust,))


def test_adjustment_can_turn_a_narrow_verdict_inconclusive():
    base = seeds([0.90, 0.91, 0.92])
    close, far = seeds([0.93, 0.95, 0.94]), seeds([0.99, 0.995, 1.005])  # close: paired p 0.035
    plain = compare_many([close, far, close], base, True, adjust=NONE)
    held = compare_many([close, far, close], base, True, adjust=HOLM)
    assert [d.verdict for d in plain] == [BETTER, BETTER, BETTER]
    assert held[0].p_adj == pytest.approx(2 * plain[0].p)  # Holm: 2nd smallest of 3, times 2
    assert [d.verdict for d in held] == [INCONCLUSIVE, BETTER, INCONCLUSIVE]


def test_untested_and_no_spread_cells_stay_out_of_the_family():
    cells = [{0: 97.0}, {}, seeds([1.0, 1.0]), seeds(CELLS[0])]
    for adjust in ADJUSTMENTS:
        ds = compare_many(cells, seeds(BASE) if adjust != NONE else seeds(BASE), True,
                          adjust=adjust)
        assert (ds[0].verdict, ds[0].note) == (UNTESTED, "n<3") and math.isnan(ds[0].p_adj)
        assert (ds[1].verdict, ds[1].note) == (UNTESTED, "no values")
        assert (ds[2].verdict, ds[2].note) == (UNTESTED, "n<3")  # 2 seeds: no test
    same = compare_many([seeds([1.0, 1.0, 1.0])], seeds([1.0, 1.0, 1.0]), True)[0]
    assert (same.verdict, same.note) == (UNTESTED, "no spread") and math.isnan(same.p)
    with pytest.raises(UserError, match="known: dunnett, holm, none"):
        compare_many([seeds(BASE)], seeds(BASE), True, adjust="bonferroni-ish")


def test_lower_is_better_flips_the_verdict():
    d = compare_many([seeds(CELLS[2])], seeds(BASE), higher_better=False)[0]
    assert d.verdict == BETTER  # lower values, as for a loss


@pytest.mark.parametrize("adjust", ADJUSTMENTS)
def test_ranks_never_contradict_verdicts(adjust):
    rng = np.random.default_rng(5)
    for _ in range(10):
        cells = [seeds(list(96 + rng.normal(rng.choice([-1, -0.3, 0, 0.3, 1]), 0.4, 4)))
                 for _ in range(6)]
        j = judge_cells(cells, 0, True, 0.05, adjust)
        base_rank = j.ranks[0]
        for d, r in zip(j.decisions[1:], j.ranks[1:], strict=True):
            assert d is not None
            if d.verdict in (INCONCLUSIVE, UNTESTED):
                assert r is None  # unresolved: never shown tied with the baseline
                continue
            assert r is not None
            expected = {BETTER: r < base_rank, WORSE: r > base_rank}.get(d.verdict,
                                                                          r == base_rank)
            assert expected, (d.verdict, r, base_rank)
        assert j.decisions[0] is None
        again = compare_many(cells[1:], cells[0], True, 0.05, adjust)
        assert [(d.verdict, d.p_adj) for d in j.decisions[1:] if d] == [
            (d.verdict, d.p_adj) for d in again]


def test_ranks_without_baseline_match_the_unadjusted_rule_and_sort_groups():
    best, close = seeds([99.0, 99.1, 98.9]), seeds([98.95, 99.05, 99.0])
    # mid is not best - 2 exactly: identical differences are no evidence (no spread)
    mid, low = seeds([97.0, 97.15, 96.9]), seeds([90.0, 90.2, 89.9])
    cells = [mid, best, low, close]
    assert judge_cells(cells, None, True, adjust=NONE).ranks == (3, 1, 4, 1)
    assert judge_cells(cells, None, True, adjust=HOLM).ranks == (3, 1, 4, 1)
    j = judge_cells([*cells, {}], None, True, adjust=DUNNETT)
    assert j.ranks == (3, 1, 4, 1, 5) and all(d is None for d in j.decisions)


def test_ranks_with_baseline_tiers():
    base = seeds([97.0, 97.1, 96.9, 97.05])
    up1, up2 = seeds([99.0, 99.1, 98.95, 99.05]), seeds([98.0, 98.15, 97.9, 98.05])
    same, down = seeds([97.02, 97.0, 96.95, 97.1]), seeds([90.0, 90.2, 89.9, 90.1])
    j = judge_cells([base, down, same, up2, up1, {0: 97.0}], 0, True)
    assert [d.verdict if d else "baseline" for d in j.decisions] == [
        "baseline", WORSE, INCONCLUSIVE, BETTER, BETTER, UNTESTED]
    # up1 > up2 > base > down; "same" is not shown to be within a margin, so unranked
    assert j.ranks == (3, 4, None, 2, 1, None)
    shown = judge_cells([base, down, same, up2, up1, {0: 97.0}], 0, True, margin=0.2)
    assert shown.decisions[2] is not None and shown.decisions[2].verdict == EQUIVALENT
    assert shown.ranks == (3, 5, 3, 2, 1, None)  # equivalent shares the baseline's rank


def test_dunnett_falls_back_to_holm_when_spreads_differ():
    noisy = seeds([95.0, 98.0, 96.2, 97.9, 94.8])  # sd ~1.5 against the others' ~0.3
    cells = [seeds(CELLS[0]), noisy]
    fell = compare_many(cells, seeds(BASE), True, adjust=DUNNETT)
    held = compare_many(cells, seeds(BASE), True, adjust=HOLM)
    assert all(d.adjustment == DUNNETT_FALLBACK and d.test == "paired" for d in fell)
    assert [d.p_adj for d in fell] == [d.p_adj for d in held]
    even = compare_many([seeds(CELLS[0]), seeds(CELLS[1])], seeds(BASE), True, adjust=DUNNETT)
    assert all(d.adjustment == DUNNETT and d.test == DUNNETT for d in even)
