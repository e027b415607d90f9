"""A group-sequential stopping rule for adding seeds in rounds (``--until-resolved``).

Design: Bonferroni over the K planned looks (Armitage, McPherson & Rowe 1969 show why re-testing
at the full level each look inflates the error; splitting alpha evenly is the simplest
alpha-spending plan). At look k of K a cell is called better/worse when its test against the
baseline has p < level / (cells * K); after the last look an open cell is indistinguishable.
Why this and not Pocock or O'Brien-Fleming boundaries: those constants come from a normal
model with known variance and many looks' joint law, while ablate tests t-statistics on 3-10
seeds with the variance estimated at every look; the union bound needs neither, so the
family-wise error over all looks and cells is <= level exactly, whatever the dependence
between looks and between cells sharing a baseline. The price is a little power: for K = 4
the per-look two-sided z boundary is 2.50 against Pocock's 2.36 (Jennison & Turnbull 2000,
Table 2.1). Stopping early for futility (``margin``) never adds false positives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from scipy import stats as _st

from ablation.analysis.contrasts import Pairing, pair_up, t_test

CONTINUE, BETTER, WORSE, SAME, UNTESTED = (
    "continue", "better", "worse", "indistinguishable", "untested")
BONFERRONI, UNADJUSTED = "bonferroni", "unadjusted"  # unadjusted: naive, for the simulation
DESIGNS = (BONFERRONI, UNADJUSTED)


def look_level(level: float, looks: int, cells: int = 1, design: str = BONFERRONI) -> float:
    """The p threshold at every look: level / (cells * looks); ``unadjusted`` drops the looks
    (naive optional stopping: each round tested as if it were the only one)."""
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}; known: {', '.join(DESIGNS)}")
    if looks < 1 or cells < 1:
        raise ValueError("looks and cells must be >= 1")
    return level / cells / (looks if design == BONFERRONI else 1)


def planned_looks(start: int, max_seeds: int, step: int) -> list[int]:
    """Seeds per cell at each look: start, start + step, ..., and max_seeds last."""
    if not 2 <= start <= max_seeds or step < 1:
        raise ValueError("need 2 <= start <= max_seeds and step >= 1")
    return sorted({*range(start, max_seeds, step), max_seeds})


@dataclass(frozen=True)
class SequentialDecision:
    """What the rule says for one cell at one look, with the numbers behind it."""

    outcome: str  # continue / better / worse / indistinguishable / untested
    p: float
    threshold: float  # the p the test had to go below at this look
    test: str  # "paired", "welch", or "" when too few values
    look: int
    looks: int


def _outcome(pair: Pairing, diff: float, p: float, threshold: float, higher_better: bool,
             margin: float | None) -> str:
    if not math.isnan(p) and p < threshold and diff != 0:
        return BETTER if (diff > 0) == higher_better else WORSE
    if margin is not None and _within_margin(pair, threshold, margin):
        return SAME
    return CONTINUE


def _within_margin(pair: Pairing, threshold: float, margin: float) -> bool:
    """Two one-sided tests at ``threshold``: the (1 - 2 threshold) t interval of the
    difference lies inside (-margin, margin)."""
    r = t_test(pair)
    if r is None:
        return False
    if math.isnan(r.p) or math.isinf(r.t):
        return abs(r.diff) < margin
    half = float(_st.t.ppf(1 - threshold, r.df)) * abs(r.diff / r.t)
    return -margin < r.diff - half and r.diff + half < margin


def sequential_decision(values: Mapping[int, float], baseline: Mapping[int, float], look: int,
                        looks: int, higher_better: bool, level: float = 0.05, cells: int = 1,
                        design: str = BONFERRONI,
                        margin: float | None = None) -> SequentialDecision:
    """Decide one cell (seed -> value) against the baseline at look ``look`` (1-based) of
    ``looks``: better/worse when the test (paired over shared seeds, else Welch) has
    p < :func:`look_level`; indistinguishable early when ``margin`` is given and the
    difference is shown to be within +-margin, or at the last look; else continue.
    """
    if not 1 <= look <= looks:
        raise ValueError(f"look {look} is outside 1..{looks}")
    threshold = look_level(level, looks, cells, design)
    pair = pair_up(values, baseline)
    r = t_test(pair)
    last = look == looks
    if r is None:
        return SequentialDecision(UNTESTED if last else CONTINUE, math.nan, threshold, "",
                                  look, looks)
    outcome = _outcome(pair, r.diff, r.p, threshold, higher_better, margin)
    if outcome == CONTINUE and last:
        outcome = SAME
    return SequentialDecision(outcome, r.p, threshold, r.test, look, looks)
