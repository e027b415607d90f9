"""The --until-resolved stopping rule, and its seeded simulation under the null."""

import numpy as np
import pytest
from scipy import stats as st

from ablation.analysis.seeds.sequential import (
    BETTER,
    BONFERRONI,
    CONTINUE,
    DESIGNS,
    EQUIVALENT,
    HAYBITTLE_PETO,
    INCONCLUSIVE,
    UNADJUSTED,
    UNTESTED,
    WORSE,
    look_level,
    planned_looks,
    sequential_decision,
)
from ablation.analysis.seeds.sequential_sim import (
    CALLED,
    EQUIV,
    OPEN,
    draw_studies,
    run_rule,
    simulate_rule,
)

BASE = {0: 96.5, 1: 96.1, 2: 96.9, 3: 96.6, 4: 96.2}


def test_look_levels_spend_at_most_the_level():
    assert look_level(0.05, 1, 5, design=BONFERRONI) == pytest.approx(0.01)
    assert look_level(0.05, 2, 4, cells=5, design=BONFERRONI) == pytest.approx(0.0025)
    assert look_level(0.05, 3, 4, cells=5, design=UNADJUSTED) == pytest.approx(0.01)
    assert look_level(0.05, 1, 4) == pytest.approx(0.001)  # Haybittle-Peto interim
    assert look_level(0.05, 4, 4) == pytest.approx(0.05 - 3 * 0.001)
    assert look_level(0.05, 1, 1) == pytest.approx(0.05)  # one look: the fixed test
    for design in (HAYBITTLE_PETO, BONFERRONI):
        for looks in (1, 2, 5, 12):
            spent = sum(look_level(0.05, k, looks, 3, design) for k in range(1, looks + 1))
            assert spent == pytest.approx(0.05 / 3)  # the union bound's budget per cell
    for bad in ((0, 4, 1, HAYBITTLE_PETO), (5, 4, 1, HAYBITTLE_PETO), (1, 4, 1, "pocock-ish"),
                (1, 52, 1, HAYBITTLE_PETO), (1, 4, 0, BONFERRONI)):
        with pytest.raises(ValueError):
            look_level(0.05, *bad)


def test_planned_looks():
    assert planned_looks(3, 10, 2) == [3, 5, 7, 9, 10]
    assert planned_looks(3, 9, 3) == [3, 6, 9] and planned_looks(5, 5, 1) == [5]
    for bad in ((1, 10, 2), (2, 10, 2), (5, 4, 1), (3, 10, 0)):  # 2 seeds: refused (1 df)
        with pytest.raises(ValueError):
            planned_looks(*bad)


def test_clear_difference_stops_at_the_first_look():
    up = {s: v + 0.5 + 0.01 * s for s, v in BASE.items()}
    d = sequential_decision(up, BASE, 1, 4, higher_better=True)
    assert d.outcome == BETTER and d.p < d.threshold == pytest.approx(0.001)
    assert d.test == "paired"
    assert sequential_decision(up, BASE, 1, 4, higher_better=False).outcome == WORSE


def test_open_cell_continues_then_is_inconclusive_at_the_last_look():
    noisy = {0: 96.6, 1: 96.0, 2: 97.0, 3: 96.5, 4: 96.3}
    assert sequential_decision(noisy, BASE, 2, 4, True).outcome == CONTINUE
    last = sequential_decision(noisy, BASE, 4, 4, True)
    assert last.outcome == INCONCLUSIVE and last.p >= last.threshold
    assert sequential_decision(noisy, BASE, 4, 4, True, margin=0.01).outcome == INCONCLUSIVE
    assert sequential_decision({0: 97.0}, BASE, 1, 3, True).outcome == CONTINUE
    assert sequential_decision({0: 97.0}, BASE, 3, 3, True).outcome == UNTESTED
    with pytest.raises(ValueError):
        sequential_decision(noisy, BASE, 5, 4, True)


def test_a_boundary_the_naive_rule_crosses_and_the_corrected_one_does_not():
    # Paired p = 0.035: below 0.05 (naive) but above 0.05 / 4 (Bonferroni over 4 looks).
    cell = {0: 96.8, 1: 96.1, 2: 97.1, 3: 96.7, 4: 96.4}
    naive = sequential_decision(cell, BASE, 1, 4, True, design=UNADJUSTED)
    assert naive.outcome == BETTER and 0.0125 < naive.p < 0.05
    for design in (HAYBITTLE_PETO, BONFERRONI):
        assert sequential_decision(cell, BASE, 1, 4, True, design=design).outcome == CONTINUE


def test_margin_calls_equivalent_when_tost_puts_the_difference_inside():
    tight = {s: v + 0.001 * (-1) ** s for s, v in BASE.items()}  # within 0.001 of the baseline
    assert sequential_decision(tight, BASE, 1, 4, True, margin=0.1).outcome == EQUIVALENT
    assert sequential_decision(tight, BASE, 1, 4, True).outcome == CONTINUE
    wide = {0: 97.5, 1: 95.5, 2: 97.9, 3: 95.6, 4: 97.2}
    assert sequential_decision(wide, BASE, 1, 4, True, margin=0.1).outcome == CONTINUE
    # TOST at the look's threshold: the (1 - 2 threshold) interval must lie inside the margin
    d = np.array([tight[s] - BASE[s] for s in BASE])
    edge = abs(d.mean()) + st.t.ppf(1 - 0.001, 4) * d.std(ddof=1) / np.sqrt(5)
    assert sequential_decision(tight, BASE, 1, 4, True, margin=edge * 1.01).outcome == EQUIVALENT
    assert sequential_decision(tight, BASE, 1, 4, True, margin=edge * 0.99).outcome == CONTINUE


def test_no_spread_decides_nothing():
    # Every paired difference equal (one test image, with count accuracies): p would be ~0,
    # but there is no variation to stand on; the cell stays open, then is inconclusive.
    same_gap = {s: v + 0.01 for s, v in BASE.items()}
    for margin in (None, 1.0):
        assert sequential_decision(same_gap, BASE, 1, 3, True, margin=margin).outcome == CONTINUE
        assert sequential_decision(same_gap, BASE, 3, 3, True,
                                   margin=margin).outcome == INCONCLUSIVE
    assert sequential_decision(dict(BASE), BASE, 3, 3, True, margin=1.0).outcome == INCONCLUSIVE


def test_welch_when_seeds_are_not_shared():
    other = {10 + s: v + 1.5 for s, v in BASE.items()}
    d = sequential_decision(other, BASE, 2, 2, True)
    assert d.test == "welch" and d.outcome == BETTER
    near = {10 + s: v for s, v in BASE.items()}
    assert sequential_decision(near, BASE, 2, 2, True, margin=1.0).outcome == EQUIVALENT


@pytest.mark.parametrize(("shift", "margin"), [(0.8, None), (0.3, 0.4)])
def test_simulated_rule_agrees_with_the_decision_function(shift, margin):
    looks = planned_looks(3, 8, 2)
    base, cell = draw_studies(seed=4, sims=60, cells=2, max_seeds=8, shift=shift)
    code = {BETTER: CALLED, WORSE: CALLED, EQUIVALENT: EQUIV}
    seen = set()
    for design in DESIGNS:
        state, stopped = run_rule(base, cell, looks, 0.05, design, margin)
        for i in range(60):
            for j in range(2):
                outcome, seeds_used = OPEN, looks[-1]
                for k, n in enumerate(looks, start=1):
                    d = sequential_decision(dict(enumerate(cell[i, j, :n])),
                                            dict(enumerate(base[i, :n])), k, len(looks), True,
                                            cells=2, design=design, margin=margin)
                    if d.outcome in code:
                        outcome, seeds_used = code[d.outcome], n
                        break
                assert state[i, j] == outcome
                assert stopped[i, j] == seeds_used
                seen.add(outcome)
    # not vacuous: the draws make calls (and, with a margin, equivalences) and leave some open
    assert seen == ({OPEN, CALLED} if margin is None else {OPEN, CALLED, EQUIV})


@pytest.mark.parametrize(("cells", "noise"), [(1, "normal"), (4, "heavy")])
def test_false_positive_rate_under_the_null(cells, noise):
    level, sims = 0.05, 20_000
    rates = {r.design: r for r in simulate_rule(seed=2024, sims=sims, cells=cells, start=3,
                                                max_seeds=10, step=2, level=level, noise=noise)}
    slack = 2 * (level * (1 - level) / sims) ** 0.5  # two Monte Carlo standard errors
    # The whole procedure (every look, every cell) stays at or below the level...
    assert rates[HAYBITTLE_PETO].rate <= level + slack
    assert rates[BONFERRONI].rate <= level
    # ...while re-testing at the fixed level every round clearly does not.
    naive = rates[UNADJUSTED]
    assert naive.ci[0] > level and naive.rate > 2 * rates[BONFERRONI].rate
    assert naive.looks == (3, 5, 7, 9, 10)


def test_simulation_is_seeded():
    assert simulate_rule(seed=1, sims=500) == simulate_rule(seed=1, sims=500)
    assert simulate_rule(seed=1, sims=500) != simulate_rule(seed=2, sims=500)
