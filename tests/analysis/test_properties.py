"""Property-based tests (hypothesis) of every statistic the verdict tables print: any per-seed
values (n = 1..12, ties, constants, identical cells, identical paired differences, 0% and
100%, a single distinct value) give finite in-range intervals, p in [0, 1] or NaN ("not
tested"), a verdict, and no exception (issue 19)."""

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ablation.analysis.contrasts import (
    clopper_pearson,
    contrast,
    diff_t_interval,
    effect_size,
    equivalence_p,
    pair_up,
    prob_improvement,
    t_test,
)
from ablation.analysis.estimates import estimate_cell, iqm
from ablation.analysis.evalnoise import default_margin, finite_test_noise
from ablation.analysis.stats import (
    ADJUSTMENTS,
    BETTER,
    EQUIVALENT,
    INCONCLUSIVE,
    MIN_TEST_N,
    UNTESTED,
    WORSE,
    holm,
)
from ablation.analysis.verdicts import compare_many, detectable_difference, judge_cells

VERDICTS = {BETTER, WORSE, EQUIVALENT, INCONCLUSIVE, UNTESTED}
FAST = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@st.composite
def values(draw, n_min: int = 1, n_max: int = 12) -> list[float]:
    """Per-seed accuracies in percent: counts over a test set, any float, a constant, or the
    ends of the range (0% and 100%)."""
    n = draw(st.integers(n_min, n_max))
    kind = draw(st.sampled_from(["counts", "float", "constant", "ends", "one-distinct"]))
    if kind == "counts":
        size = draw(st.sampled_from([10, 360, 10_000]))
        return [100 * c / size for c in draw(st.lists(st.integers(0, size), min_size=n,
                                                      max_size=n))]
    if kind == "float":
        return draw(st.lists(st.floats(0, 100), min_size=n, max_size=n))
    if kind == "constant":
        return [draw(st.sampled_from([0.0, 50.0, 98.8858, 100.0]))] * n
    if kind == "ends":
        return draw(st.lists(st.sampled_from([0.0, 100.0]), min_size=n, max_size=n))
    odd = draw(st.floats(0, 100))
    return [98.8858] * (n - 1) + [odd]


def by_seed(xs: list[float], start: int = 0) -> dict[int, float]:
    return {start + i: x for i, x in enumerate(xs)}


@st.composite
def cell_against(draw, control: dict[int, float]) -> dict[int, float]:
    """A cell: independent values, the control itself, the control shifted by a constant
    (identical paired differences, with float noise), or on partly other seeds."""
    how = draw(st.sampled_from(["own", "same", "shifted", "other-seeds"]))
    if how == "same":
        return dict(control)
    if how == "shifted":
        shift = draw(st.sampled_from([0.0, 0.01, 0.2785, -1.5]))
        return {s: min(100.0, max(0.0, v + shift)) for s, v in control.items()}
    return by_seed(draw(values()), start=draw(st.integers(0, 3)) if how == "other-seeds" else 0)


def _p_ok(p: float) -> bool:
    return math.isnan(p) or 0.0 <= p <= 1.0


@st.composite
def study(draw) -> tuple[dict[int, float], list[dict[int, float]]]:
    control = by_seed(draw(values()))
    return control, draw(st.lists(cell_against(control), min_size=1, max_size=4))


@FAST
@given(study(), st.sampled_from(ADJUSTMENTS.names()),
       st.sampled_from([None, 0.01, 0.3, 5.0]), st.booleans())
def test_every_comparison_gives_a_verdict_and_p_in_range(case, adjust, margin, up):
    control, cells = case
    for d in compare_many(cells, control, up, 0.05, adjust, margin=margin):
        assert d.verdict in VERDICTS
        assert all(_p_ok(p) for p in (d.p, d.p_adj, d.p_equiv, d.p_equiv_adj))
        if d.verdict in (BETTER, WORSE):
            assert d.n >= MIN_TEST_N and d.n_ref >= MIN_TEST_N and d.p_adj < 0.05
        if d.verdict == EQUIVALENT:
            assert margin is not None and d.p_equiv_adj < 0.05
        if math.isnan(d.p):
            assert d.verdict == UNTESTED


@FAST
@given(study(), st.sampled_from(ADJUSTMENTS.names()), st.sampled_from([None, 0.3]))
def test_judged_cells_rank_or_stay_unresolved(case, adjust, margin):
    control, cells = case
    j = judge_cells([control, *cells], 0, True, 0.05, adjust, margin=margin)
    assert j.decisions[0] is None and isinstance(j.ranks[0], int)
    for d, r in zip(j.decisions[1:], j.ranks[1:], strict=True):
        assert d is not None and d.verdict in VERDICTS
        assert (r is None) == (d.verdict in (INCONCLUSIVE, UNTESTED) and d.note != "no values")
        assert math.isnan(d.detectable) or d.detectable > 0


@FAST
@given(study())
def test_contrasts_are_finite_and_in_range(case):
    control, cells = case
    for cell in cells:
        k = contrast(cell, control, True, (0.0, 100.0), n_resamples=99)
        pair = pair_up(cell, control)
        for ci in (k.t_ci, k.boot_ci):  # clipped to the range of a difference
            assert math.isnan(ci.low) or -100 <= ci.low <= ci.high <= 100
        raw = diff_t_interval(pair)
        assert math.isnan(raw.low) or (math.isfinite(raw.low) and math.isfinite(raw.high))
        if len(pair.a) >= 2 and len(pair.b) >= 2:
            assert math.isfinite(k.t_ci.low) and k.t_ci.low <= k.diff + 1e-9 <= k.t_ci.high + 2e-9
        assert 0 <= k.p_improve <= 1
        if k.paired:
            assert 0 <= k.p_improve_ci.low <= k.p_improve <= k.p_improve_ci.high <= 1
        r = t_test(pair)
        assert r is None or _p_ok(r.p)
        assert _p_ok(equivalence_p(pair, 0.3))
        e = effect_size(pair).value
        assert not math.isnan(e) or k.diff == 0 or min(len(pair.a), len(pair.b)) < 2
        assert 0 <= prob_improvement(pair, False) <= 1


@FAST
@given(values(n_min=0))
def test_cell_estimates_are_in_range(xs):
    s = estimate_cell(xs, (0.0, 100.0), n_resamples=99)
    assert s.n == len(xs)
    for ci in (s.t_ci, s.boot_ci, s.iqm_ci):
        if not math.isnan(ci.low):
            assert 0 <= ci.low <= ci.high <= 100
    if s.n >= 2:
        assert s.t_ci.low <= s.mean + 1e-9 and s.mean <= s.t_ci.high + 1e-9
    assert math.isnan(iqm(xs)) or 0 <= iqm(xs) <= 100


@FAST
@given(st.lists(st.one_of(st.floats(0, 1), st.just(math.nan)), max_size=12))
def test_holm_stays_in_range_and_above_raw(ps):
    for p, a in zip(ps, holm(ps), strict=True):
        assert (math.isnan(p) and math.isnan(a)) or p <= a <= 1


@FAST
@given(st.integers(0, 12), st.integers(0, 12), st.floats(0.5, 0.999))
def test_clopper_pearson_contains_the_estimate(wins, ties, level):
    n = wins + ties + 3
    ci = clopper_pearson(wins, ties, n, level)
    assert 0 <= ci.low <= (wins + ties / 2) / n <= ci.high <= 1
    assert ci.low < 1  # never [1, 1] from a finite sample


@FAST
@given(values(n_min=0), st.integers(1, 100_000))
def test_default_margin_and_test_noise_are_finite(xs, n_test):
    mean = float(np.mean(xs)) if xs else math.nan
    m = default_margin(mean, n_test)
    assert math.isnan(m) == (not xs) and (math.isnan(m) or 0 < m <= 100)
    share = finite_test_noise(xs, n_test, scale=100.0)
    assert math.isnan(share.test_var) or share.test_var >= 0


@FAST
@given(study(), st.floats(0.001, 0.2))
def test_detectable_difference_is_positive_or_nan(case, alpha):
    control, cells = case
    for cell in cells:
        d = detectable_difference(cell, control, alpha)
        assert math.isnan(d) or 0 < d < math.inf
