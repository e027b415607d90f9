"""A group-sequential stopping rule for adding seeds in rounds (``--until-resolved``, and the
default of ``ablate run``): four verdicts, better / worse / equivalent / inconclusive.

Re-testing at the full level after every round inflates false positives (Armitage, McPherson
& Rowe 1969; simulated in docs/statistics.md). The rule here spends the level over the K
planned looks and the m cells by the union bound: at look k a cell is called better/worse
when its test against the baseline has p below that look's share, or ``equivalent`` when the
two one-sided tests (TOST, Schuirmann 1987) at that share put the difference inside
+-margin. The shares sum to level / m per cell, so whatever the truth the family-wise error
over all looks and cells is <= level (a false better/worse when a cell equals the baseline,
a false equivalent when it differs by the margin or more), whatever the dependence between
looks (the same seeds, re-used) or between cells (one shared baseline). Pocock or
O'Brien-Fleming constants would spend the level less conservatively, but they come from a
normal model with known variance, while ablate tests t statistics on 3-20 seeds with the
variance estimated anew at each look; the union bound needs no such model.

Design ``haybittle-peto`` (Haybittle 1971, Peto et al. 1976): every interim look at a/50
(0.001 for a = level / m = 0.05), the last look at a minus what the interim looks spent.
Design ``bonferroni``: a/K at every look; stops earlier, at a loss of power (measured).
``unadjusted`` (a at every look) is naive optional stopping, there only for the simulation.

The first look needs 3 seeds (``MIN_START``): with 2 a paired test has 1 degree of freedom,
and two equal paired differences (common when accuracy counts test images) give p ~ 0 from
one image; measured in docs/statistics.md (calibration). A look whose paired differences are
all equal (no spread) decides nothing: a verdict needs variation to stand on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ablation.analysis.contrasts import Pairing, equivalence_p, pair_up, t_test
from ablation.analysis.stats import BETTER, EQUIVALENT, INCONCLUSIVE, UNTESTED, WORSE

CONTINUE = "continue"
OUTCOMES = (CONTINUE, BETTER, WORSE, EQUIVALENT, INCONCLUSIVE, UNTESTED)
HAYBITTLE_PETO, BONFERRONI, UNADJUSTED = "haybittle-peto", "bonferroni", "unadjusted"
DESIGNS = (HAYBITTLE_PETO, BONFERRONI, UNADJUSTED)  # unadjusted: naive, for the simulation
INTERIM_SHARE = 1 / 50  # Haybittle-Peto's interim p < 0.001 at a level of 0.05
MIN_START = 3  # seeds per cell at the first look (see the module docstring)
# ``ablate run``'s default rounds: from the study's seeds, 3 more per round to open cells, up to
# 12. Chosen by simulation (benchmarks/calibration.py, docs/statistics.md): the smallest cap
# at which 7 cells reach >= 80% "better" at a true 2-sd difference and >= 80% "equivalent" at
# 0 within the default margin, with a run's sd 0.15 points on 10,000 test images.
DEFAULT_MAX_SEEDS, DEFAULT_ROUND_SEEDS = 12, 3


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
    if not MIN_START <= start <= max_seeds or step < 1:
        raise ValueError(f"need {MIN_START} <= start <= max_seeds and step >= 1 (got start "
                         f"{start}, max_seeds {max_seeds}, step {step})")
    return sorted({*range(start, max_seeds, step), max_seeds})


@dataclass(frozen=True)
class SequentialDecision:
    """What the rule says for one cell at one look, with the numbers behind it."""

    outcome: str  # one of OUTCOMES
    p: float
    threshold: float  # the p each test had to go below at this look
    test: str  # "paired", "welch", or "" when too few values
    look: int
    looks: int


def _outcome(pair: Pairing, diff: float, p: float, threshold: float, higher_better: bool,
             margin: float | None) -> str:
    """A detected difference wins; else equivalence by TOST at the same threshold (the lead's
    precedence in issue 19, as the fixed tests decide); no spread (p NaN) decides nothing."""
    if math.isnan(p):
        return CONTINUE
    if p < threshold and diff != 0:
        return BETTER if (diff > 0) == higher_better else WORSE
    if margin is not None and equivalence_p(pair, margin) < threshold:
        return EQUIVALENT
    return CONTINUE


def sequential_decision(values: Mapping[int, float], baseline: Mapping[int, float], look: int,
                        looks: int, higher_better: bool, level: float = 0.05, cells: int = 1,
                        design: str = HAYBITTLE_PETO,
                        margin: float | None = None) -> SequentialDecision:
    """Decide one cell (seed -> value) against the baseline at look ``look`` (1-based) of
    ``looks``: better/worse when the test (paired over shared seeds, else Welch) has
    p < :func:`look_level`; equivalent when ``margin`` is given and TOST at the same
    threshold shows the difference within +-margin; else continue, and at the last look
    inconclusive (untested when a side never had 3 values)."""
    threshold = look_level(level, look, looks, cells, design)
    pair = pair_up(values, baseline)
    r = t_test(pair)
    last = look == looks
    if r is None:
        return SequentialDecision(UNTESTED if last else CONTINUE, math.nan, threshold, "",
                                  look, looks)
    outcome = _outcome(pair, r.diff, r.p, threshold, higher_better, margin)
    if outcome == CONTINUE and last:
        outcome = INCONCLUSIVE
    return SequentialDecision(outcome, r.p, threshold, r.test, look, looks)
