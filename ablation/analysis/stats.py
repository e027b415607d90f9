"""The verdict names shared by every comparison, and Holm's step-down adjustment.

Estimates, tests and verdicts live in ``estimates.py``, ``contrasts.py`` and ``verdicts.py``
(docs/statistics.md); this module holds what they all share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# Verdicts of a comparison against the baseline.
BETTER, WORSE, SAME, UNTESTED = "better", "worse", "indistinguishable", "untested"


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
