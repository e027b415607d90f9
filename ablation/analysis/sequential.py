"""A group-sequential stopping rule for adding seeds in rounds (``--until-resolved``).

Re-testing at the full level after every round inflates false positives (Armitage, McPherson
& Rowe 1969; simulated in docs/statistics.md). The rule here spends the level over the K
planned looks and the m cells by the union bound: a cell is called better/worse at look k
when its test against the baseline has p below that look's share, and the shares sum to
level / m per cell, so the family-wise error over all looks and cells is <= level exactly,
whatever the dependence between looks (the same seeds, re-used) or between cells (one shared
baseline). Pocock or O'Brien-Fleming constants would spend the level less conservatively, but
they come from a normal model with known variance, while ablate tests t statistics on 3-20
seeds with the variance estimated anew at each look; the union bound needs no such model.

Design ``haybittle-peto`` (the default; Haybittle 1971, Peto et al. 1976): every interim look
at a/50 (0.001 for a = level / m = 0.05), the last look at a minus what the interim looks
spent. The decisive last look is then nearly at the full level, so power stays close to one
fixed test after all seeds, and a cell stops early only on overwhelming evidence.
Design ``bonferroni``: a/K at every look; stops earlier, at a clear loss of power (measured).
``unadjusted`` (a at every look) is naive optional stopping, there only for the simulation.
Stopping early for futility (``margin``) never adds false positives.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from scipy import stats as _st

from ablation.analysis.contrasts import Pairing, pair_up, t_test

CONTINUE, BETTER, WORSE, SAME, UNTESTED = (
    "continue", "better", "worse", "indistinguishable", "untested")
HAYBITTLE_PETO, BONFERRONI, UNADJUSTED = "haybittle-peto", "bonferroni", "unadjusted"
DESIGNS = (HAYBITTLE_PETO, BONFERRONI, UNADJUSTED)  # unadjusted: naive, for the simulation
INTERIM_SHARE = 1 / 50  # Haybittle-Peto's interim p < 0.001 at a level of 0.05


def look_level(level: float, look: int, looks: int, cells: int = 1,
               design: str = HAYBITTLE_PETO) -> float:
    """The p a cell's test must go below at look ``look`` (1-based) of ``looks``, with
    a = level / cells: Haybittle-Peto a/50 at interim looks and the rest at the last;
    Bonferroni a / looks at each; unadjusted a at each (naive optional stopping)."""
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}; known: {', '.join(DESIGNS)}")
    if cells < 1 or not 1 <= look <= looks:
        raise ValueError(f"need cells >= 1 and 1 <= look <= looks (got {look} of {looks})")
    a = level / cells
    if design == UNADJUSTED:
        return a
    if design == BONFERRONI:
        return a / looks
    if looks - 1 >= 1 / INTERIM_SHARE:
        raise ValueError("Haybittle-Peto spends a/50 per interim look: at most 50 looks")
    return a * INTERIM_SHARE if look < looks else a - a * INTERIM_SHARE * (looks - 1)


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
                        design: str = HAYBITTLE_PETO,
                        margin: float | None = None) -> SequentialDecision:
    """Decide one cell (seed -> value) against the baseline at look ``look`` (1-based) of
    ``looks``: better/worse when the test (paired over shared seeds, else Welch) has
    p < :func:`look_level`; indistinguishable early when ``margin`` is given and the
    difference is shown to be within +-margin, or at the last look; else continue.
    """
    threshold = look_level(level, look, looks, cells, design)
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
