"""The verdict names shared by every comparison, the smallest testable n, and Holm's adjustment.

Estimates, tests and verdicts live in ``estimates.py``, ``contrasts.py`` and ``verdicts.py``
(docs/statistics.md); this module holds what they all share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ablation.registry import Registry

# Verdicts of a comparison against the baseline (docs/statistics.md, "Verdicts"): better/worse
# when the test of a difference rejects, equivalent when the difference is shown inside
# +-margin (TOST), inconclusive when neither, untested when the seeds allow no test.
BETTER, WORSE, EQUIVALENT, INCONCLUSIVE, UNTESTED = (
    "better", "worse", "equivalent", "inconclusive", "untested")
RESOLVED = (BETTER, WORSE, EQUIVALENT)  # verdicts that rank; the others are unresolved

# No test below 3 values a side: the t-test on 2 pairs has 1 df and rests wholly on normality
# (count accuracies put near-identical differences on a lattice: the audit of issue 19 measured
# 10.5% family-wise error at 2 seeds), and an exact sign-flip test cannot go below p = 0.5.
MIN_TEST_N = 3


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order.

    The family is the finite p-values (NaN, i.e. untested, stays NaN and does not count). With m
    tests sorted ascending, the k-th smallest (k from 0) becomes max over j <= k of
    min(1, (m - j) * p_(j)). Rejecting where the adjusted p < level controls the family-wise
    error rate at ``level`` under any dependence between the tests.
    """
    tested = sorted((i for i, p in enumerate(pvalues) if not math.isnan(p)),
                    key=lambda i: pvalues[i])
    out = [math.nan] * len(pvalues)
    running = 0.0
    for k, i in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - k) * pvalues[i]))
        out[i] = running
    return out


@dataclass(frozen=True)
class Adjustment:
    """A multiplicity adjustment of the comparisons with the baseline: its name, how tables
    name it, and the note that says what it does (``{tested}``, ``{level}`` filled in)."""

    name: str
    label: str
    note: str


ADJUSTMENTS: Registry[Adjustment] = Registry("adjustment")
HOLM = ADJUSTMENTS.add("holm", Adjustment(
    "holm", "Holm", "Holm over the {tested} comparisons with the baseline (family-wise error "
    "≤ {level:g}); equivalence: Holm over their TOST p's")).name  # the default everywhere
DUNNETT = ADJUSTMENTS.add("dunnett", Adjustment(
    "dunnett", "Dunnett", "Dunnett's many-to-one test over the {tested} comparisons (pooled "
    "variance, unpaired: p is its unadjusted t-test); equivalence: Holm over TOST p's")).name
NONE = ADJUSTMENTS.add("none", Adjustment(
    "none", "none", "not adjusted (each comparison at the level on its own)")).name
# What Dunnett becomes when the cells' spreads differ (its pooled variance assumes they don't).
DUNNETT_FALLBACK = "dunnett->holm"
