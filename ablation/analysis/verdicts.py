"""Many cells against one control (the baseline): p, adjusted p and verdict under one
adjustment (Holm, Dunnett or none), equivalence within a margin, and ranks with ties that
follow the same decisions.

Consistent by construction: a verdict is read off the adjusted p's (``p_adj < level`` in the
metric's direction for better/worse, ``p_equiv_adj < level`` for equivalent), never off a raw
p, and ranks are built from the baseline verdicts plus leader comparisons made with the same
test and the same adjustment. docs/statistics.md explains each rule.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
from scipy import stats as _st

from ablation.analysis.contrasts import equivalence_p, pair_up, t_test
from ablation.analysis.power import TARGET_POWER, power_paired, power_welch
from ablation.analysis.stats import (
    ADJUSTMENTS,
    BETTER,
    DUNNETT,
    DUNNETT_FALLBACK,
    EQUIVALENT,
    HOLM,
    INCONCLUSIVE,
    MIN_TEST_N,
    NONE,
    UNTESTED,
    WORSE,
    holm,
)

SPREAD_RATIO = 2.0  # largest sd over smallest above which Dunnett falls back to Holm


@dataclass(frozen=True)
class Decision:
    """One cell against the control: the test, raw p, adjusted p and the verdict made from
    the adjusted p's under ``adjustment`` (with ``none``, p_adj is p)."""

    diff: float  # paired mean difference (paired test), else mean(cell) - mean(control)
    test: str  # "paired", "welch", "dunnett", or "" when untested
    n: int  # values of the cell the test used (pairs when paired)
    n_ref: int  # values of the control the test used
    p: float  # NaN when untested or without spread
    p_adj: float
    adjustment: str
    level: float
    verdict: str  # better / worse / equivalent / inconclusive / untested
    note: str = ""  # why untested ("n<3", "no values", "no spread"), or "within margin"
    p_equiv: float = math.nan  # TOST p of |diff| >= margin (NaN: no margin or no test)
    p_equiv_adj: float = math.nan
    margin: float = math.nan
    detectable: float = math.nan  # smallest |diff| these seeds detect at 80% power


def verdict_for(diff: float, p_adj: float, level: float, higher_better: bool,
                p_equiv_adj: float = math.nan) -> str:
    """better/worse when ``p_adj < level`` in the metric's direction (a detected difference
    wins), else equivalent when ``p_equiv_adj < level``, else inconclusive."""
    if not math.isnan(p_adj) and p_adj < level and diff != 0:
        return BETTER if (diff > 0) == higher_better else WORSE
    return EQUIVALENT if p_equiv_adj < level else INCONCLUSIVE


WITHIN_MARGIN = "within margin"  # better/worse, and also shown inside ±margin (trivially so)


def _mean(cell: Mapping[int, float]) -> float:
    return float(np.mean(list(cell.values())))


def _untested(cell: Mapping[int, float], control: Mapping[int, float], adjust: str,
              level: float) -> Decision | None:
    if not cell or not control:
        return Decision(math.nan, "", len(cell), len(control), math.nan, math.nan, adjust,
                        level, UNTESTED, "no values")
    if len(cell) < MIN_TEST_N or len(control) < MIN_TEST_N:
        return Decision(_mean(cell) - _mean(control), "", len(cell), len(control), math.nan,
                        math.nan, adjust, level, UNTESTED, f"n<{MIN_TEST_N}")
    return None


def _t_decision(cell: Mapping[int, float], control: Mapping[int, float], adjust: str,
                level: float, margin: float | None) -> Decision:
    pair = pair_up(cell, control)
    r = t_test(pair)
    assert r is not None  # both sides have >= MIN_TEST_N values here
    note = "no spread" if math.isnan(r.p) else ""
    return Decision(r.diff, r.test if not note else "", len(pair.a), len(pair.b), r.p,
                    math.nan, adjust, level, UNTESTED if note else "", note,
                    equivalence_p(pair, margin), math.nan,
                    math.nan if margin is None else margin)


def _adjusted(ps: Sequence[float], adjust: str) -> list[float]:
    return list(ps) if adjust == NONE else holm(ps)


def _decide(decisions: Sequence[Decision], adjusted: Sequence[float], adjust: str,
            higher_better: bool) -> list[Decision]:
    """Fill each tested decision's adjusted p's (the equivalence family adjusted by Holm,
    or not at all under ``none``) and its verdict."""
    tested = [d.verdict != UNTESTED for d in decisions]
    eq = _adjusted([d.p_equiv if t else math.nan for d, t in zip(decisions, tested,
                                                                   strict=True)], adjust)
    out = []
    for d, t, pa, pe in zip(decisions, tested, adjusted, eq, strict=True):
        if t:
            verdict = verdict_for(d.diff, pa, d.level, higher_better, pe)
            trivial = verdict in (BETTER, WORSE) and pe < d.level
            d = replace(d, p_adj=pa, p_equiv_adj=pe, verdict=verdict,
                        note=WITHIN_MARGIN if trivial else d.note)
        out.append(d)
    return out


def _t_decisions(cells: Sequence[Mapping[int, float]], control: Mapping[int, float],
                 adjust: str, level: float, margin: float | None,
                 higher_better: bool) -> list[Decision]:
    found = [_untested(c, control, adjust, level) or _t_decision(c, control, adjust, level,
                                                                 margin) for c in cells]
    ps = [d.p if d.verdict != UNTESTED else math.nan for d in found]
    return _decide(found, _adjusted(ps, adjust), adjust, higher_better)


def _dunnett_ps(samples: list[np.ndarray], control: np.ndarray,
                seed: int) -> tuple[list[float], list[float]]:
    """Raw and Dunnett-adjusted p of each sample against the control (pooled variance)."""
    groups = [*samples, control]
    df = sum(len(g) for g in groups) - len(groups)
    with warnings.catch_warnings():
        # A constant group makes scipy warn of precision loss; the pooled variance is > 0.
        warnings.simplefilter("ignore", RuntimeWarning)
        res = _st.dunnett(*samples, control=control, rng=np.random.default_rng(seed))
    raw = [float(2 * _st.t.sf(abs(t), df)) for t in res.statistic]
    # scipy integrates the multivariate t by quasi-Monte Carlo (error ~1e-4); an adjusted p is
    # never below its raw p, so the max only removes integration error.
    return raw, [min(1.0, max(float(p), r)) for p, r in zip(res.pvalue, raw, strict=True)]


def spreads_differ(groups: Sequence[np.ndarray]) -> bool:
    """True when the largest sample sd exceeds SPREAD_RATIO times the smallest (or one group
    is constant and another is not): Dunnett's pooled variance would misstate both."""
    sds = [float(np.std(g, ddof=1)) for g in groups if len(g) >= 2]
    if not sds or max(sds) == 0:
        return False
    return min(sds) == 0 or max(sds) / min(sds) > SPREAD_RATIO


def _dunnett_decisions(cells: Sequence[Mapping[int, float]], control: Mapping[int, float],
                       level: float, seed: int, higher_better: bool,
                       margin: float | None) -> list[Decision]:
    found = [_untested(c, control, DUNNETT, level) for c in cells]
    tested = [i for i, d in enumerate(found) if d is None]
    ctrl = np.array(list(control.values()), dtype=float)
    samples = [np.array(list(cells[i].values()), dtype=float) for i in tested]
    if tested and spreads_differ([*samples, ctrl]):
        held = _t_decisions(cells, control, HOLM, level, margin, higher_better)
        return [replace(d, adjustment=DUNNETT_FALLBACK) for d in held]
    out = [d or _t_decision(c, control, DUNNETT, level, margin) for d, c in zip(found, cells,
                                                                               strict=True)]
    live = [i for i in tested if out[i].verdict != UNTESTED]
    adjusted = [math.nan] * len(cells)
    if live:
        raw, adj = _dunnett_ps([samples[tested.index(i)] for i in live], ctrl, seed)
        for i, p, pa in zip(live, raw, adj, strict=True):
            out[i] = replace(out[i], diff=_mean(cells[i]) - float(ctrl.mean()), test=DUNNETT,
                             n=len(cells[i]), n_ref=len(ctrl), p=p)
            adjusted[i] = pa
    return _decide(out, adjusted, DUNNETT, higher_better)


def detectable_difference(values: Mapping[int, float], reference: Mapping[int, float],
                          alpha: float, power: float = TARGET_POWER) -> float:
    """The smallest |difference| the test of these seeds detects with ``power`` at ``alpha``
    (paired over shared seeds, else Welch with the smaller side's n), from the observed
    spread; NaN when no test can be made."""
    pair = pair_up(values, reference)
    n = min(len(pair.a), len(pair.b))
    if n < MIN_TEST_N:
        return math.nan
    at: Callable[[float], float]
    if pair.paired:
        sd = float(np.std(pair.a - pair.b, ddof=1))
        at = partial(power_paired, n, sd_diff=sd, alpha=alpha)
    else:
        sa, sb = float(np.std(pair.a, ddof=1)), float(np.std(pair.b, ddof=1))
        sd = math.hypot(sa, sb)
        at = partial(power_welch, n, sd_a=sa, sd_b=sb, alpha=alpha)
    if not 0 < sd < math.inf:
        return math.nan
    lo, hi = 0.0, sd
    while at(hi) < power:
        lo, hi = hi, 2 * hi
    for _ in range(30):  # bisection to ~1e-9 of sd: far below any printed digit
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if at(mid) >= power else (mid, hi)
    return hi


def _with_detectable(cells: Sequence[Mapping[int, float]], control: Mapping[int, float],
                     decisions: list[Decision], adjust: str, level: float) -> list[Decision]:
    """Add the detectable difference to inconclusive cells, at Holm's first-step level
    (level / tests) under an adjustment: what these seeds could have shown."""
    tests = sum(d.verdict != UNTESTED for d in decisions)
    alpha = level if adjust == NONE else level / max(tests, 1)
    return [replace(d, detectable=detectable_difference(c, control, alpha))
            if d.verdict == INCONCLUSIVE else d for c, d in zip(cells, decisions, strict=True)]


def compare_many(cells: Sequence[Mapping[int, float]], control: Mapping[int, float],
                 higher_better: bool, level: float = 0.05, adjust: str = HOLM,
                 seed: int = 0, margin: float | None = None) -> list[Decision]:
    """Compare every cell (seed -> value) with ``control``, one family, in input order.

    ``holm``/``none``: the paired t-test over shared seeds (>= 3), else Welch's; Holm's step-down
    adjustment over the finite p-values (Holm 1979), or none. ``dunnett``: Dunnett's many-to-one
    test on all values (Dunnett 1955, ``scipy.stats.dunnett``; unpaired, pooled variance; p is the
    same t-statistic's unadjusted p), or Holm when the cells' spreads differ. ``margin``: the
    equivalence margin (TOST on the paired/Welch t, its family adjusted by Holm unless
    ``none``). ``seed`` seeds Dunnett's numerical integration.
    """
    ADJUSTMENTS.get(adjust)  # an unknown name is an error listing the known ones
    if adjust == DUNNETT:
        return _dunnett_decisions(cells, control, level, seed, higher_better, margin)
    return _t_decisions(cells, control, adjust, level, margin, higher_better)


@dataclass(frozen=True)
class Judgement:
    """Every cell's decision against the baseline (None for the baseline itself, and for
    every cell when there is no baseline) and its rank (1 = best, ties shared; None =
    unresolved: inconclusive or untested, not ranked)."""

    decisions: tuple[Decision | None, ...]
    ranks: tuple[int | None, ...]


def _leader_groups(members: list[int], cells: Sequence[Mapping[int, float]],
                   higher_better: bool, level: float, adjust: str, seed: int) -> list[list[int]]:
    """Groups, best first: the best unplaced cell leads, and every unplaced cell the family
    "rest against the leader" (same test, same adjustment) does not call worse joins it."""
    sign = 1 if higher_better else -1
    order = sorted(members, key=lambda i: -sign * _mean(cells[i]))
    groups = []
    while order:
        leader, rest = order[0], order[1:]
        decisions = compare_many([cells[i] for i in rest], cells[leader], higher_better, level,
                                 adjust, seed)
        group = [leader] + [i for i, d in zip(rest, decisions, strict=True)
                            if d.verdict != WORSE]
        groups.append(group)
        order = [i for i in order if i not in group]
    return groups


def judge_cells(cells: Sequence[Mapping[int, float]], baseline: int | None,
                higher_better: bool, level: float = 0.05, adjust: str = HOLM,
                seed: int = 0, margin: float | None = None) -> Judgement:
    """Verdicts against ``cells[baseline]`` and ranks that never contradict them.

    With a baseline the resolved cells fall in three tiers by verdict: better, then the
    baseline with every equivalent cell (one shared rank), then worse; inconclusive and
    untested cells are not ranked (None): they are not shown tied with the baseline, and an
    inconclusive one carries the difference its seeds could detect (``detectable``). Inside
    the better and the worse tier, and over all cells when there is no baseline, groups are
    formed by :func:`_leader_groups`. Ranks are competition ranks (1, 1, 3, ...); a cell
    without values ranks last.
    """
    decisions: list[Decision | None] = [None] * len(cells)
    if baseline is not None:
        others = [i for i in range(len(cells)) if i != baseline]
        found = compare_many([cells[i] for i in others], cells[baseline], higher_better, level,
                             adjust, seed, margin)
        found = _with_detectable([cells[i] for i in others], cells[baseline], found, adjust,
                                 level)
        for i, d in zip(others, found, strict=True):
            decisions[i] = d
    verdicts = [d.verdict if d else None for d in decisions]
    return Judgement(tuple(decisions), rank_cells(cells, baseline, verdicts, higher_better,
                                                  level, adjust, seed))


def _tiers(filled: list[int], baseline: int | None,
           verdicts: Sequence[str | None]) -> list[tuple[list[int], bool]]:
    if baseline is None:
        return [(filled, True)]
    verdict = {i: v for i, v in enumerate(verdicts) if i != baseline}
    return [([i for i in filled if verdict.get(i) == BETTER], True),
            ([i for i in filled if i == baseline or verdict.get(i) == EQUIVALENT], False),
            ([i for i in filled if verdict.get(i) == WORSE], True)]


def rank_cells(cells: Sequence[Mapping[int, float]], baseline: int | None,
               verdicts: Sequence[str | None], higher_better: bool, level: float = 0.05,
               adjust: str = HOLM, seed: int = 0) -> tuple[int | None, ...]:
    """Ranks (1 = best, competition ranking) that follow the given verdicts against
    ``cells[baseline]``: the tiers of :func:`judge_cells`, whatever rule made the verdicts
    (a fixed test, or the sequential rule of ``--until-resolved``). A cell whose verdict is
    not better/worse/equivalent (inconclusive, untested, open) is unresolved: None."""
    filled = [i for i, c in enumerate(cells) if c]
    ranks: list[int | None] = [None] * len(cells)
    done = 0
    for members, split in _tiers(filled, baseline, verdicts):
        groups = (_leader_groups(members, cells, higher_better, level, adjust, seed) if split
                  else [members] if members else [])
        for group in groups:
            for i in group:
                ranks[i] = done + 1
            done += len(group)
    for i, c in enumerate(cells):
        if not c:
            ranks[i] = done + 1
    return tuple(ranks)
