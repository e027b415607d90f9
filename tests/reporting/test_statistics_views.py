"""Pure views of the statistics: test-set noise per cell, the rule's verdicts from stored
looks, point status lines, and the plan table, on fixed inputs."""

import math

import numpy as np
import pytest

from ablation.analysis.evalnoise import (
    finite_test_noise,
    finite_test_noise_examples,
)
from ablation.analysis.power import seeds_needed
from ablation.analysis.records import Evidence, TrialRecord
from ablation.reporting.looks import looks_note, rule_p_adj, sequential_decisions
from ablation.reporting.noise import cell_noise, noise_table
from ablation.reporting.plan import plan_seeds, plan_table
from ablation.reporting.summary import point_status, points_text, summary_rows


def run(number, label, seed, acc, base=False):
    return TrialRecord(number, "complete", "optimizer", label, seed, {},
                       {"test_accuracy": acc}, acc, base)


def test_noise_uses_stored_predictions_when_every_run_has_them_on_one_test_set():
    rng = np.random.default_rng(0)
    correct = rng.random((3, 500)) < 0.9
    runs = [run(i, "a", i, float(correct[i].mean())) for i in range(3)]
    stored = Evidence({i: ("d", correct[i]) for i in range(3)}, {i: 500 for i in range(3)})
    got = cell_noise(runs, stored)
    want = finite_test_noise_examples(correct, scale=100.0)
    assert got is not None and got.method == "per-example"
    assert got.test_var == pytest.approx(want.test_var) and got.share == pytest.approx(want.share)
    # one run on another test set (another digest): per-example is impossible, binomial instead
    mixed = Evidence({**stored.correct, 2: ("other", correct[2])}, stored.n_test)
    binom = cell_noise(runs, mixed)
    assert binom is not None and binom.method == "binomial"
    ref = finite_test_noise([100 * r.metrics["test_accuracy"] for r in runs], 500, scale=100.0)
    assert binom.test_var == pytest.approx(ref.test_var)
    assert cell_noise(runs, Evidence()) is None  # nothing says how large the test set was
    assert cell_noise(runs[:1], stored) is None  # one run has no spread
    table = noise_table("s", runs, stored)
    assert len(table.rows) == 1 and table.rows[0][-1] == "per-example"


LOOK = {"looks": 3, "seeds": 3, "n": 3, "metric": "test_accuracy", "design": "haybittle-peto",
        "level": 0.05, "cells": 2, "test": "paired", "axis": "optimizer"}


def test_sequential_decisions_report_each_cells_last_look():
    rows = summary_rows([run(0, "nadam", 0, 0.9, True), run(1, "sgd", 0, 0.8),
                         run(2, "adam", 0, 0.9), run(3, "adamw", 0, 0.9)], n_resamples=0)
    interim = 0.05 / 2 / 50
    looks = [dict(LOOK, look=1, label="sgd", p=1e-5, threshold=interim, diff=-10.0,
                  outcome="worse"),
             dict(LOOK, look=1, label="adam", p=0.01, threshold=interim, diff=0.1,
                  outcome="continue"),
             dict(LOOK, look=2, label="adam", p=0.2, threshold=interim, diff=0.05,
                  outcome="continue", seeds=5)]
    d = sequential_decisions(rows, looks, "test_accuracy")
    assert d is not None and d[0] is None  # the baseline
    assert d[1].verdict == "worse" and d[1].note == "look 1/3" and d[1].adjustment == "sequential"
    assert d[1].p_adj == pytest.approx(1e-5 * 0.05 / interim) and d[1].p_adj < 0.05
    assert d[2].verdict == "open" and d[2].note == "look 2/3" and d[2].p_adj == 1.0
    assert d[3] is None  # a cell the rounds never tested keeps no decision
    assert sequential_decisions(rows, looks, "test_loss") is None  # looks on another metric
    assert "looks made: 2 of 3, at 3/5 seeds" in looks_note(looks, "test_accuracy")
    assert math.isnan(rule_p_adj(math.nan, interim, 0.05))


def test_point_status_says_what_is_not_done():
    assert point_status({"done": 9}) == "All 9 points done."
    line = point_status({"done": 4, "pending": 4, "failed": 1})
    assert line.startswith("4 of 9 points done; 4 pending, 1 failed")
    assert points_text({"done": 4, "pending": 5}) == "; 5 of 9 points not done: 5 pending"
    assert points_text({"done": 3}) == ""


def test_plan_uses_holms_first_step_alpha_and_power_analysis():
    base = [96.5, 96.1, 96.9, 96.6]
    cell = [96.9, 96.3, 97.2, 96.8]
    trials = ([run(i, "nadam", i, v / 100, True) for i, v in enumerate(base)]
              + [run(10 + i, "adam", i, v / 100) for i, v in enumerate(cell)]
              + [run(20 + i, "sgd", i, v / 100 - 0.01) for i, v in enumerate(cell)])
    rows = summary_rows(trials, n_resamples=0)
    plan = plan_seeds(rows, "test_accuracy", 0.2)
    assert plan.alpha == pytest.approx(0.025) and plan.comparisons == 2
    want = seeds_needed(dict(enumerate(cell)), dict(enumerate(base)), 0.2, alpha=0.025)
    assert plan.needed[1] is not None and plan.needed[1].n == want.n
    assert plan_seeds(rows, "test_accuracy", 0.2, adjust="none").alpha == 0.05
    table = plan_table("s", rows, "test_accuracy", 0.2)
    assert table.rows[1][5] == str(want.n) and table.rows[1][7] == str(max(0, want.n - 4))
