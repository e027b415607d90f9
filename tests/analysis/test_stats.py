"""Holm's step-down adjustment, checked by hand."""

import math

import pytest

from ablation.analysis.stats import holm


def test_holm_adjusts_by_rank_and_keeps_monotone_order():
    # m = 4; sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, 2*0.03, max(0.06, 1*0.04)
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    out = holm([math.nan, 0.02, 0.5])  # untested stays NaN and is not part of the family
    assert math.isnan(out[0]) and out[1:] == pytest.approx([0.04, 0.5])
    assert holm([0.9, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1, never below the max
    assert holm([]) == []
