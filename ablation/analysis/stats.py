"""Pure statistics over seeds: mean, standard deviation and a t-based 95% confidence interval."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as _st


@dataclass(frozen=True)
class Summary:
    """n, mean, sample std (ddof=1) and the CI of the mean; NaN where n is too small to say."""

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float

    @property
    def ci_half(self) -> float:
        """Half-width of the confidence interval."""
        return (self.ci_high - self.ci_low) / 2


def summarize(values: Sequence[float], level: float = 0.95) -> Summary:
    """Summary of repeated measurements; one value gives NaN spread rather than a fake zero."""
    xs = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(xs)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    mean = sum(xs) / n
    if n == 1:
        return Summary(1, mean, math.nan, math.nan, math.nan)
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    half = float(_st.t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half)


# Verdicts of a comparison against the baseline.
BETTER, WORSE, SAME, UNTESTED = "better", "worse", "indistinguishable", "untested"
HIGHER_IS_BETTER = ("accuracy", "f1")  # metric names containing these; loss and time: lower


def higher_is_better(metric: str) -> bool:
    """Direction of a metric by name: accuracies and F1 up, losses and times down."""
    return any(word in metric for word in HIGHER_IS_BETTER)


@dataclass(frozen=True)
class TTest:
    """A two-sided t-test: which one, its statistic, degrees of freedom and p-value."""

    test: str  # "welch" or "paired"
    t: float
    df: float
    p: float


def _mean_var(xs: Sequence[float]) -> tuple[float, float]:
    mean = sum(xs) / len(xs)
    return mean, sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)


def _two_sided(t: float, df: float) -> float:
    return float(2 * _st.t.sf(abs(t), df))


def _no_spread(test: str, diff: float, df: float) -> TTest:
    if diff == 0:
        return TTest(test, math.nan, df, math.nan)
    return TTest(test, math.copysign(math.inf, diff), df, 0.0)


def welch_test(a: Sequence[float], b: Sequence[float]) -> TTest:
    """Welch's unequal-variance t-test of mean(a) - mean(b); needs n >= 2 on both sides.

    Degrees of freedom by Welch-Satterthwaite. Zero spread on both sides, as in scipy: equal
    means give NaN (nothing to test), different means give t = +-inf and p = 0.
    """
    if len(a) < 2 or len(b) < 2:
        raise ValueError("the Welch test needs at least 2 values on each side")
    (ma, va), (mb, vb) = _mean_var(a), _mean_var(b)
    sa, sb = va / len(a), vb / len(b)
    if sa + sb == 0:
        return _no_spread("welch", ma - mb, math.nan)
    t = (ma - mb) / math.sqrt(sa + sb)
    df = (sa + sb) ** 2 / (sa**2 / (len(a) - 1) + sb**2 / (len(b) - 1))
    return TTest("welch", t, df, _two_sided(t, df))


def paired_test(a: Sequence[float], b: Sequence[float]) -> TTest:
    """Paired t-test of the per-pair differences a[i] - b[i] (same seed); needs >= 2 pairs."""
    if len(a) != len(b) or len(a) < 2:
        raise ValueError("the paired test needs two equally long samples of at least 2")
    d = [x - y for x, y in zip(a, b, strict=True)]
    mean, var = _mean_var(d)
    if var == 0:
        return _no_spread("paired", mean, len(d) - 1)
    t = mean / math.sqrt(var / len(d))
    return TTest("paired", t, len(d) - 1, _two_sided(t, len(d) - 1))


@dataclass(frozen=True)
class Comparison:
    """One configuration against a reference (the baseline, or a ranking's leader)."""

    diff: float  # mean(config) - mean(reference), in the metric's units
    test: str  # "paired", "welch" or "" when untested
    p: float  # NaN when untested
    verdict: str  # better / worse / indistinguishable / untested
    note: str = ""  # why it is untested ("n<2", "no spread")
    welch_p: float = math.nan  # the Welch p-value, also given when the paired test decided
    p_holm: float = math.nan  # p adjusted (Holm) over the family of comparisons it belongs to


def compare(values: dict[int, float], reference: dict[int, float], higher_better: bool,
            level: float = 0.05) -> Comparison:
    """Compare per-seed ``values`` with ``reference`` (both keyed by seed) at ``level``.

    The paired test decides when both sides ran exactly the same seeds (the seed is shared
    noise: weight init and batch order); otherwise Welch's test decides. ``better``/``worse``
    need p < level and respect the direction; anything else is ``indistinguishable``. With fewer
    than 2 values on a side nothing is tested: verdict ``untested``, note ``n<2``, p NaN.
    Values identical on both sides (or in every pair) are ``indistinguishable``, note
    ``no spread``, p NaN.
    """
    a, b = list(values.values()), list(reference.values())
    if not a or not b:
        return Comparison(math.nan, "", math.nan, UNTESTED, "no values")
    diff = sum(a) / len(a) - sum(b) / len(b)
    if len(a) < 2 or len(b) < 2:
        return Comparison(diff, "", math.nan, UNTESTED, "n<2")
    welch = welch_test(a, b)
    chosen = welch
    if set(values) == set(reference):
        seeds = sorted(values)
        chosen = paired_test([values[s] for s in seeds], [reference[s] for s in seeds])
    if math.isnan(chosen.p):  # identical values on both sides (or every pair)
        return Comparison(diff, chosen.test, math.nan, SAME, "no spread", welch.p)
    if chosen.p >= level:
        return Comparison(diff, chosen.test, chosen.p, SAME, "", welch.p)
    good = diff > 0 if higher_better else diff < 0
    return Comparison(diff, chosen.test, chosen.p, BETTER if good else WORSE, "", welch.p)


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


def adjust_family(comparisons: Sequence[Comparison], higher_better: bool, level: float,
                  method: str = "none") -> list[Comparison]:
    """Fill in every comparison's Holm-adjusted p; with ``method="holm"`` the verdicts follow it.

    Untested comparisons (and "no spread" ones, whose p is NaN) keep their verdict.
    """
    if method not in ADJUSTMENTS:
        raise ValueError(f"unknown adjustment {method!r}")
    adjusted = holm([c.p for c in comparisons])
    out = []
    for c, p_adj in zip(comparisons, adjusted, strict=True):
        c = dataclasses.replace(c, p_holm=p_adj)
        if method == "holm" and not math.isnan(p_adj):
            good = c.diff > 0 if higher_better else c.diff < 0
            verdict = SAME if p_adj >= level else (BETTER if good else WORSE)
            c = dataclasses.replace(c, verdict=verdict)
        out.append(c)
    return out


ADJUSTMENTS = ("none", "holm")


def rank_groups(samples: Sequence[dict[int, float]], higher_better: bool,
                level: float = 0.05) -> list[int]:
    """Ranks (1 = best) that treat statistically indistinguishable configurations as ties.

    Definition: order the configurations by mean, best first. The best unranked one is the
    leader of a new group; every unranked configuration that :func:`compare` does not call
    ``worse`` than the leader at ``level`` (indistinguishable, or untested because n<2) joins
    its group. Everyone in the group gets rank 1 + the number of configurations
    ranked before it (competition ranking: 1, 1, 3). Repeat until all are ranked. So rank 1 is
    "not distinguishable from the best"; a configuration with no values ranks last.
    """
    def mean(s: dict[int, float]) -> float:
        return sum(s.values()) / len(s) if s else math.nan

    sign = 1 if higher_better else -1
    order = sorted((i for i, s in enumerate(samples) if s), key=lambda i: -sign * mean(samples[i]))
    ranks = [0] * len(samples)
    done = 0
    while order:
        leader = order[0]
        group = [i for i in order
                 if i == leader or compare(samples[i], samples[leader], higher_better,
                                           level).verdict != WORSE]
        for i in group:
            ranks[i] = done + 1
        done += len(group)
        order = [i for i in order if i not in group]
    for i, s in enumerate(samples):
        if not s:
            ranks[i] = done + 1
    return ranks
