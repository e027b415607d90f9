"""Many cells against one control (the baseline): p, adjusted p and verdict under one
adjustment (Holm, Dunnett or none), and ranks with ties that follow the same decisions.

Consistent by construction: a verdict is read off the adjusted p (``p_adj < level`` in the
metric's direction), never off the raw p, and ranks are built from the baseline verdicts
plus leader comparisons made with the same test and the same adjustment.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from ablation.analysis.contrasts import pair_up, t_test
from ablation.analysis.stats import BETTER, SAME, UNTESTED, WORSE, holm

HOLM, DUNNETT, NONE = "holm", "dunnett", "none"
ADJUSTMENTS = (HOLM, DUNNETT, NONE)  # HOLM is the default everywhere


@dataclass(frozen=True)
class Decision:
    """One cell against the control: the test, raw p, adjusted p and the verdict made from
    the adjusted p under ``adjustment`` (with ``none``, p_adj is p)."""

    diff: float  # paired mean difference (paired test), else mean(cell) - mean(control)
    test: str  # "paired", "welch", "dunnett", or "" when untested
    n: int  # values of the cell the test used (pairs when paired)
    n_ref: int  # values of the control the test used
    p: float  # NaN when untested or without spread
    p_adj: float
    adjustment: str
    level: float
    verdict: str  # better / worse / indistinguishable / untested
    note: str = ""  # why untested ("n<2", "no values") or "no spread"


def verdict_for(diff: float, p_adj: float, level: float, higher_better: bool) -> str:
    """better/worse when ``p_adj < level`` in the metric's direction, else indistinguishable."""
    if math.isnan(p_adj) or p_adj >= level or diff == 0:
        return SAME
    return BETTER if (diff > 0) == higher_better else WORSE


def _untested(cell: Mapping[int, float], control: Mapping[int, float], adjust: str,
              level: float) -> Decision | None:
    if not cell or not control:
        return Decision(math.nan, "", len(cell), len(control), math.nan, math.nan, adjust,
                        level, UNTESTED, "no values")
    if len(cell) < 2 or len(control) < 2:
        diff = float(np.mean(list(cell.values())) - np.mean(list(control.values())))
        return Decision(diff, "", len(cell), len(control), math.nan, math.nan, adjust, level,
                        UNTESTED, "n<2")
    return None


def _finish(d: Decision, p_adj: float, higher_better: bool) -> Decision:
    note = "no spread" if math.isnan(d.p) else ""
    return Decision(d.diff, d.test, d.n, d.n_ref, d.p, p_adj, d.adjustment, d.level,
                    verdict_for(d.diff, p_adj, d.level, higher_better), note)


def _t_decisions(cells: Sequence[Mapping[int, float]], control: Mapping[int, float],
                 adjust: str, level: float) -> list[Decision]:
    out = []
    for cell in cells:
        d = _untested(cell, control, adjust, level)
        if d is None:
            pair = pair_up(cell, control)
            r = t_test(pair)
            assert r is not None  # both sides have >= 2 values here
            d = Decision(r.diff, r.test, len(pair.a), len(pair.b), r.p, math.nan, adjust,
                         level, "")
        out.append(d)
    return out


def _dunnett_ps(samples: list[np.ndarray], control: np.ndarray,
                seed: int) -> tuple[list[float], list[float]]:
    """Raw and Dunnett-adjusted p of each sample against the control (pooled variance)."""
    groups = [*samples, control]
    df = sum(len(g) for g in groups) - len(groups)
    pooled = sum((len(g) - 1) * float(np.var(g, ddof=1)) for g in groups) / df
    if pooled == 0:  # every group constant: a nonzero difference is certain, zero is untestable
        ps = [math.nan if s.mean() == control.mean() else 0.0 for s in samples]
        return ps, ps
    with warnings.catch_warnings():
        # A constant group makes scipy warn of precision loss; the pooled variance is > 0.
        warnings.simplefilter("ignore", RuntimeWarning)
        res = _st.dunnett(*samples, control=control, rng=np.random.default_rng(seed))
    raw = [float(2 * _st.t.sf(abs(t), df)) for t in res.statistic]
    # scipy integrates the multivariate t by quasi-Monte Carlo (error ~1e-4); an adjusted p is
    # never below its raw p, so the max only removes integration error.
    return raw, [max(float(p), r) for p, r in zip(res.pvalue, raw, strict=True)]


def _dunnett_decisions(cells: Sequence[Mapping[int, float]], control: Mapping[int, float],
                       level: float, seed: int, higher_better: bool) -> list[Decision]:
    out: list[Decision | None] = [_untested(c, control, DUNNETT, level) for c in cells]
    tested = [i for i, d in enumerate(out) if d is None]
    if tested:
        ctrl = np.array(list(control.values()), dtype=float)
        samples = [np.array(list(cells[i].values()), dtype=float) for i in tested]
        raw, adj = _dunnett_ps(samples, ctrl, seed)
        for i, s, p, pa in zip(tested, samples, raw, adj, strict=True):
            d = Decision(float(s.mean() - ctrl.mean()), DUNNETT, len(s), len(ctrl), p,
                         math.nan, DUNNETT, level, "")
            out[i] = _finish(d, pa, higher_better)
    return [d for d in out if d is not None]


def compare_many(cells: Sequence[Mapping[int, float]], control: Mapping[int, float],
                 higher_better: bool, level: float = 0.05, adjust: str = HOLM,
                 seed: int = 0) -> list[Decision]:
    """Compare every cell (seed -> value) with ``control``, one family, in input order.

    ``holm``/``none``: the paired t-test over shared seeds (>= 2), else Welch's; Holm's step-down
    adjustment over the finite p-values (Holm 1979), or none. ``dunnett``: Dunnett's many-to-one
    test on all values (Dunnett 1955, ``scipy.stats.dunnett``; unpaired, pooled variance; p is the
    same t-statistic's unadjusted p). ``seed`` seeds Dunnett's numerical integration.
    """
    if adjust not in ADJUSTMENTS:
        raise ValueError(f"unknown adjustment {adjust!r}; known: {', '.join(ADJUSTMENTS)}")
    if adjust == DUNNETT:
        return _dunnett_decisions(cells, control, level, seed, higher_better)
    decisions = _t_decisions(cells, control, adjust, level)
    ps = [d.p if d.verdict != UNTESTED else math.nan for d in decisions]
    adjusted = holm(ps) if adjust == HOLM else ps
    return [d if d.verdict == UNTESTED else _finish(d, pa, higher_better)
            for d, pa in zip(decisions, adjusted, strict=True)]


@dataclass(frozen=True)
class Judgement:
    """Every cell's decision against the baseline (None for the baseline itself, and for
    every cell when there is no baseline) and its rank (1 = best, ties shared)."""

    decisions: tuple[Decision | None, ...]
    ranks: tuple[int, ...]


def _mean(cell: Mapping[int, float]) -> float:
    return float(np.mean(list(cell.values())))


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
                seed: int = 0) -> Judgement:
    """Verdicts against ``cells[baseline]`` and ranks that never contradict them.

    With a baseline the cells fall in three tiers by verdict: better, then the baseline with
    every indistinguishable or untested cell (one shared rank: none is told apart from the
    baseline), then worse. Inside the better and the worse tier, and over all cells when there
    is no baseline, groups are formed by :func:`_leader_groups`. Ranks are competition ranks
    (1, 1, 3, ...); a cell without values ranks last. So "better" always ranks above the
    baseline and "worse" below it, under whichever adjustment made the verdicts.
    """
    decisions: list[Decision | None] = [None] * len(cells)
    if baseline is not None:
        others = [i for i in range(len(cells)) if i != baseline]
        found = compare_many([cells[i] for i in others], cells[baseline], higher_better, level,
                             adjust, seed)
        for i, d in zip(others, found, strict=True):
            decisions[i] = d
    verdicts = [d.verdict if d else None for d in decisions]
    return Judgement(tuple(decisions), rank_cells(cells, baseline, verdicts, higher_better,
                                                  level, adjust, seed))


def rank_cells(cells: Sequence[Mapping[int, float]], baseline: int | None,
               verdicts: Sequence[str | None], higher_better: bool, level: float = 0.05,
               adjust: str = HOLM, seed: int = 0) -> tuple[int, ...]:
    """Ranks (1 = best, competition ranking) that follow the given verdicts against
    ``cells[baseline]``: the tiers of :func:`judge_cells`, whatever rule made the verdicts
    (a fixed test, or the sequential rule of ``--until-resolved``). A verdict other than
    better/worse (indistinguishable, untested, open) shares the baseline's tier."""
    filled = [i for i, c in enumerate(cells) if c]
    if baseline is None:
        tiers = [(filled, True)]
    else:
        verdict = {i: v for i, v in enumerate(verdicts) if i != baseline}
        tiers = [([i for i in filled if verdict.get(i) == BETTER], True),
                 ([i for i in filled if verdict.get(i) not in (BETTER, WORSE)], False),
                 ([i for i in filled if verdict.get(i) == WORSE], True)]
    ranks = [0] * len(cells)
    done = 0
    for members, split in tiers:
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
