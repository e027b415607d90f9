"""The table of a recipe study (spec/recipe.py), built on the summary rows and the verdict code:

- leave-one-out: every "− component" row against the full recipe (the study's reference row);
- cumulative: every "+ component" row against the row before it (that step's contribution),
  one family of steps, and its total against the baseline;
- factorial: each component's main effect and each pair's interaction (analysis/factorial.py),
  one family of effects, each tested against zero paired by seed.

Pure functions returning TextTables (and their CSV). Verdicts come from
``verdicts.compare_many``: a per-seed contrast against a zero reference is the paired test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ablation.analysis.contrasts import Contrast, contrast
from ablation.analysis.factorial import Effect, effects, step_differences, zero_reference
from ablation.analysis.metrics import METRICS
from ablation.analysis.verdicts import DUNNETT, Decision, compare_many
from ablation.errors import UserError
from ablation.reporting.summary import (
    BOOT_SEED,
    CI_LEVEL,
    ComparedRow,
    SummaryRow,
    compare_rows,
)
from ablation.reporting.tables import fmt_ci, fmt_mean_ci, fmt_num, fmt_p
from ablation.reporting.text import TextTable
from ablation.spec.recipe import (
    CUMULATIVE,
    FACTORIAL,
    LEAVE_ONE_OUT,
    Recipe,
    aliases,
    design_cells,
)

BYTES = "artifact_bytes"  # study 000 reports size beside accuracy: every row shows it if recorded


@dataclass(frozen=True)
class EffectRow:
    """One factorial effect over seeds: its per-seed contrast's mean with intervals (against
    zero), the decision of the effects' family, and the effects a fraction aliases with it."""

    effect: Effect
    contrast: Contrast
    decision: Decision
    aliased: tuple[str, ...]


def _check_adjust(adjust: str, design: str) -> None:
    if adjust == DUNNETT and design != LEAVE_ONE_OUT:
        raise UserError(f"--adjust dunnett compares many cells with one control; a {design} "
                        "recipe is a family of steps or effects: use --adjust holm or none")


def ordered_rows(rows: Sequence[SummaryRow], recipe: Recipe) -> list[SummaryRow | None]:
    """The summary row of each design row in design order (None where nothing completed)."""
    by_label = {r.label: r for r in rows}
    return [by_label.get(c.label) for c in design_cells(recipe)]


def effect_rows(rows: Sequence[SummaryRow], recipe: Recipe, metric: str, level: float = 0.05,
                adjust: str = "holm", margin: float | None = None) -> list[EffectRow]:
    """Main effects and pair interactions of a factorial recipe, one family of tests."""
    _check_adjust(adjust, recipe.design)
    info = METRICS.get(metric)
    found = ordered_rows(rows, recipe)
    cells = {frozenset(c.on): (r.samples.get(metric, {}) if r else {})
             for c, r in zip(design_cells(recipe), found, strict=True)}
    estimated = effects(cells, recipe.names)
    zero = zero_reference(estimated)
    decisions = compare_many([e.per_seed for e in estimated], zero, info.higher_is_better,
                             level, adjust, BOOT_SEED, margin)
    out = []
    for e, d in zip(estimated, decisions, strict=True):
        k = contrast(e.per_seed, zero, info.higher_is_better, None, CI_LEVEL, BOOT_SEED)
        others = [" × ".join(sorted(a, key=recipe.names.index))
                  for a in aliases(frozenset(e.factors), recipe.generators) if len(a) <= 2]
        out.append(EffectRow(e, k, d, tuple(sorted(others))))
    return out


@dataclass(frozen=True)
class StepRow:
    """One cumulative row: its estimate, the step from the row before and the total from the
    baseline (None for the baseline row)."""

    row: SummaryRow | None
    label: str
    step: Contrast | None
    step_decision: Decision | None
    total: ComparedRow | None


def step_rows(rows: Sequence[SummaryRow], recipe: Recipe, metric: str, level: float = 0.05,
              adjust: str = "holm", margin: float | None = None) -> list[StepRow]:
    """Every cumulative row: step verdicts in one family, totals from the usual comparison."""
    _check_adjust(adjust, recipe.design)
    info = METRICS.get(metric)
    found = ordered_rows(rows, recipe)
    cells = [r.samples.get(metric, {}) if r else {} for r in found]
    diffs = step_differences(cells)
    steps = compare_many(diffs, zero_reference([Effect((), d) for d in diffs]),
                         info.higher_is_better, level, adjust, BOOT_SEED, margin)
    totals = {c.row.label: c for c in compare_rows([r for r in found if r], metric, level,
                                                    adjust, margin=margin)}
    out = []
    for i, (cell, r) in enumerate(zip(design_cells(recipe), found, strict=True)):
        k = None
        if i and cells[i] and cells[i - 1]:
            k = contrast(cells[i], cells[i - 1], info.higher_is_better, info.bounds(),
                         CI_LEVEL, BOOT_SEED)
        out.append(StepRow(r, cell.label, k, steps[i - 1] if i else None,
                           totals.get(cell.label) if i else None))
    return out


def _delta(k: Contrast | None, digits: int) -> str:
    if k is None:
        return "—"
    ci = fmt_ci(k.t_ci, digits)
    delta = fmt_num(k.diff, digits, sign=True)
    return delta if ci == "—" else f"{delta} {ci}"


def _estimate(r: SummaryRow | None, metric: str) -> str:
    if r is None or metric not in r.stats:
        return "—"
    return fmt_mean_ci(r.stats[metric], METRICS.get(metric).digits)


def _bytes(r: SummaryRow | None) -> str:
    s = r.stats.get(BYTES) if r else None
    return "—" if s is None or not s.n else f"{s.mean:,.0f}"


def _verdict(d: Decision | None) -> str:
    if d is None:
        return "—"
    return f"{d.verdict} ({d.note})" if d.note else d.verdict


NOTES = {
    LEAVE_ONE_OUT: "Each row is the full recipe without one component (its keys back at the "
                   "baseline's values); Δ, p adj. and verdict against the full recipe, paired "
                   "by seed: 'worse' means removing the component costs, so it contributes.",
    CUMULATIVE: "Each row adds one component to the row above. Step: Δ against the row above "
                "(that component's contribution given the ones before it), paired by seed, "
                "its verdict adjusted over the steps; total: against the baseline.",
    FACTORIAL: "Main effect of A: mean over the runs with A on minus with A off; A × B: A's "
               "effect with B on minus with B off. Each is a per-seed contrast of that seed's "
               "runs, then a 95% t-interval over seeds; verdicts test it against 0 (paired), "
               "adjusted over all effects. 'better' means the component (or the pair's "
               "synergy) improves the metric.",
}


def recipe_table(study: str, rows: Sequence[SummaryRow], recipe: Recipe, metric: str,
                 level: float = 0.05, adjust: str = "holm", margin: float | None = None
                 ) -> TextTable:
    """The recipe study's table in its design's shape (see the module's docstring);
    ``margin``: the equivalence margin of the verdicts (display units), as the usual table's."""
    info = METRICS.get(metric)
    title = f"{study}: {recipe.design} recipe"
    if recipe.design == FACTORIAL:
        table = _effects_table(title, effect_rows(rows, recipe, metric, level, adjust, margin),
                               info.digits, adjust)
    elif recipe.design == CUMULATIVE:
        table = _steps_table(title, step_rows(rows, recipe, metric, level, adjust, margin),
                             metric, adjust)
    else:
        table = _loo_table(title, rows, recipe, metric, level, adjust, margin)
    unit = "points" if info.percent else info.unit
    said = ("no equivalence margin: 'equivalent' is not tested" if margin is None else
            f"'equivalent': shown inside ±{margin:.3g} {unit}".rstrip())
    return replace(table, notes=(*table.notes, f"Verdicts as in the usual table ({said}; "
                                 "docs/statistics.md)."))


def _steps_table(title: str, steps: Sequence[StepRow], metric: str, adjust: str) -> TextTable:
    digits = METRICS.get(metric).digits
    sized = any(_bytes(s.row) != "—" for s in steps)
    header = ("row", "n", f"{METRICS.get(metric).header} [95% CI]",
              *(["artifact bytes (mean)"] if sized else []), "step Δ [95% CI]",
              f"step p adj. ({adjust})", "step verdict", "total Δ vs baseline [95% CI]",
              "total verdict")
    body = []
    for s in steps:
        t = s.total
        body.append((s.label, str(s.row.n if s.row else 0), _estimate(s.row, metric),
                     *([_bytes(s.row)] if sized else []), _delta(s.step, digits),
                     fmt_p(s.step_decision.p_adj) if s.step_decision else "—",
                     _verdict(s.step_decision), _delta(t.contrast if t else None, digits),
                     _verdict(t.decision if t else None)))
    right = tuple(h not in ("row", "step verdict", "total verdict") for h in header)
    return TextTable(title, header, tuple(body), (NOTES[CUMULATIVE],), right)


def _loo_table(title: str, rows: Sequence[SummaryRow], recipe: Recipe, metric: str,
               level: float, adjust: str, margin: float | None) -> TextTable:
    digits = METRICS.get(metric).digits
    compared = compare_rows([r for r in ordered_rows(rows, recipe) if r], metric, level, adjust,
                            margin=margin)
    sized = any(_bytes(c.row) != "—" for c in compared)
    header = ("row", "n", f"{METRICS.get(metric).header} [95% CI]",
              *(["artifact bytes (mean)"] if sized else []), "Δ vs full recipe [95% CI]",
              f"p adj. ({adjust})", "verdict")
    body = []
    for c in compared:
        d = c.decision
        body.append((c.row.label, str(c.row.n), _estimate(c.row, metric),
                     *([_bytes(c.row)] if sized else []), _delta(c.contrast, digits),
                     fmt_p(d.p_adj) if d else "—", _verdict(d)))
    right = tuple(h not in ("row", "verdict") for h in header)
    return TextTable(title, header, tuple(body), (NOTES[LEAVE_ONE_OUT],), right)


def _effects_table(title: str, found: Sequence[EffectRow], digits: int,
                   adjust: str) -> TextTable:
    header = ("effect", "seeds", "estimate [95% CI]", "p", f"p adj. ({adjust})", "verdict",
              "aliased with")
    body = tuple((e.effect.name, str(len(e.effect.per_seed)), _delta(e.contrast, digits),
                  fmt_p(e.decision.p), fmt_p(e.decision.p_adj), _verdict(e.decision),
                  ", ".join(e.aliased) or "—") for e in found)
    right = (False, True, True, True, True, False, False)
    return TextTable(title, header, body, (NOTES[FACTORIAL],), right)
