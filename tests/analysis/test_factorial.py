"""Factorial effects (analysis/factorial.py) recover known coefficients exactly, per seed."""

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from ablation.analysis.factorial import complete_seeds, effects, step_differences

coef = st.floats(-5, 5, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(k=st.integers(2, 4), mains=st.lists(coef, min_size=4, max_size=4), pair=coef,
       offsets=st.lists(coef, min_size=1, max_size=4))
def test_effects_of_a_known_model_are_exact(k, mains, pair, offsets):
    names = [f"c{i}" for i in range(k)]
    cells = {}
    for bits in itertools.product((0, 1), repeat=k):
        on = frozenset(n for n, b in zip(names, bits, strict=True) if b)
        y = sum(m * b for m, b in zip(mains, bits, strict=False)) + pair * bits[0] * bits[1]
        cells[on] = {s: y + off for s, off in enumerate(offsets)}  # a seed shifts every run
    found = {e.name: e.per_seed for e in effects(cells, names)}
    for s in range(len(offsets)):
        assert abs(found["c0"][s] - (mains[0] + pair / 2)) < 1e-9
        assert abs(found["c1"][s] - (mains[1] + pair / 2)) < 1e-9
        assert abs(found["c0 × c1"][s] - pair) < 1e-9
        for i in range(2, k):
            assert abs(found[f"c{i}"][s] - mains[i]) < 1e-9
        for a, b in itertools.combinations(range(k), 2):
            if (a, b) != (0, 1):
                assert abs(found[f"c{a} × c{b}"][s]) < 1e-9


def test_only_seeds_every_run_has_are_used():
    cells = {frozenset(): {0: 1.0, 1: 2.0}, frozenset({"a"}): {0: 3.0, 2: 5.0}}
    assert complete_seeds(cells) == [0]
    assert effects(cells, ["a"])[0].per_seed == {0: 2.0}


def test_steps_are_per_seed_differences_of_consecutive_rows():
    rows = [{0: 1.0, 1: 2.0}, {0: 1.5, 1: 1.0, 2: 9.0}, {1: 4.0}]
    assert step_differences(rows) == [{0: 0.5, 1: -1.0}, {1: 3.0}]
