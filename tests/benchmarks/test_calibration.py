"""benchmarks/calibration.py: its simulated world, its pieces on few draws, and --quick's exit."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from ablation.analysis.evalnoise import default_margin
from ablation.analysis.stats import BETTER, EQUIVALENT, UNTESTED
from benchmarks import calibration as cal


def test_world_splits_a_runs_sd_into_training_and_test_set_noise():
    w = cal.World()
    binom = 100 * math.sqrt(0.99 * 0.01 / 10_000)
    assert w.tau**2 + binom**2 == pytest.approx(0.15**2)
    assert w.margin == pytest.approx(default_margin(99.0, 10_000))
    values = cal.draw(np.random.default_rng(0), w, 4000, 3, 2.0)
    assert values.shape == (4000, 8, 3)
    counts = values * w.n_test / 100
    assert np.allclose(counts, np.round(counts))  # accuracies count test examples
    assert values[:, 0].std() == pytest.approx(0.15, rel=0.05)
    assert (values[:, 1:] - values[:, :1]).mean() == pytest.approx(0.3, abs=0.01)  # 2 sd


def test_two_seeds_give_no_verdict_and_clear_cases_resolve():
    rng = np.random.default_rng(1)
    w = cal.World()
    assert {v for s in cal.fixed_verdicts(w, 20, 2, 5.0, "holm", rng) for v in s} == {UNTESTED}
    far, _ = cal.sequential_verdicts(w, 5, cal.default_looks(), 8.0, rng)
    assert {v for s in far for v in s} == {BETTER}
    quiet = cal.World(seed_sd=0.1, n_test=1_000, accuracy=90.0)  # margin 2.6 sd: easy
    near, used = cal.sequential_verdicts(quiet, 5, cal.default_looks(), 0.0, rng)
    assert {v for s in near for v in s} == {EQUIVALENT} and used < cal.DEFAULT_MAX_SEEDS


def test_coverage_counts_only_shown_intervals():
    rng = np.random.default_rng(2)
    found = cal.coverage(cal.World(), 30, 2, 1.0, 0.8, rng, 99)
    # 2 seeds are compared unpaired (pairs need 3): no exact interval of the paired win rate
    assert found["P(improvement), exact"] == (0, 0) and found["Δ, t"][1] == 30
    assert found["mean, t"][1] == 30 and 25 <= found["mean, t"][0] <= 30


def test_checks_allow_two_monte_carlo_errors():
    assert cal.Check("x", 58, 1000, 0.05, False).passed()  # 0.058 <= 0.05 + 0.0138
    assert not cal.Check("x", 70, 1000, 0.05, False).passed()
    assert cal.Check("x", 790, 1000, 0.8, True).passed()
    assert not cal.Check("x", 700, 1000, 0.8, True).line().startswith("ok")


@pytest.mark.slow
def test_quick_exits_1_exactly_when_a_target_is_missed(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["calibration.py", "--quick", "--sims", "12"])
    code = 0
    try:
        cal.main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr().out
    assert "### Targets (issue 19)" in out
    assert code == (1 if "MISS" in out else 0)
