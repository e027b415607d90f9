"""The study's tables as TextTables (rendered as Markdown or LaTeX): the verdict table first
(the compared metric, Δ vs baseline, P(improvement), effect size, p, adjusted p, equivalence
p, verdict, rank, detectable difference), then the other metrics. Pure functions; labels,
units, decimals and ranges come from the METRICS registry, the statistics from
``reporting/summary.py``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ablation.analysis.estimates import CellEstimate
from ablation.analysis.intervals import Interval
from ablation.analysis.metrics import METRICS, table_metrics
from ablation.analysis.records import TrialRecord
from ablation.analysis.stats import MIN_TEST_N, UNTESTED
from ablation.analysis.verdicts import (
    ADJUSTMENTS,
    DUNNETT_FALLBACK,
    HOLM,
    SPREAD_RATIO,
    Decision,
)
from ablation.reporting.summary import (
    NO_MARGIN,
    ComparedRow,
    Margin,
    SummaryRow,
    compare_rows,
)
from ablation.reporting.text import TextTable


class CrossCell(Protocol):
    """What a cross-dataset cell exposes to tables (engine.cross_eval.Cell)."""

    @property
    def train(self) -> str: ...
    @property
    def test(self) -> str: ...
    @property
    def accuracy(self) -> float: ...
    @property
    def macro_f1(self) -> float: ...
    @property
    def infer_seconds(self) -> float: ...
    @property
    def mapping(self) -> str: ...


def _nan(x: float) -> bool:
    return x != x


def fmt_num(x: float, digits: int, sign: bool = False) -> str:
    """A number with ``digits`` decimals ('—' for NaN; '+' on positives when ``sign``)."""
    if _nan(x):
        return "—"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def fmt_effect(x: float) -> str:
    """A standardised effect, two decimals; beyond ±99 (no spread to speak of: the seeds'
    differences agree to rounding) as '> +99' / '< -99'."""
    if _nan(x):
        return "—"
    if abs(x) > 99:
        return "> +99" if x > 0 else "< -99"
    return f"{x:+.2f}"


def fmt_ci(ci: Interval, digits: int) -> str:
    """'[low, high]', or '—' where there is no interval (n < 2)."""
    if _nan(ci.low) or _nan(ci.high):
        return "—"
    return f"[{ci.low:.{digits}f}, {ci.high:.{digits}f}]"


def fmt_mean_std(s: CellEstimate, digits: int = 2) -> str:
    """'mean ± std' (or just the mean when n = 1: no spread is claimed)."""
    if s.n == 0:
        return "—"
    return f"{s.mean:.{digits}f}" if _nan(s.std) else f"{s.mean:.{digits}f} ± {s.std:.{digits}f}"


def fmt_mean_ci(s: CellEstimate, digits: int = 2) -> str:
    """'mean [t-interval]', clipped to the metric's range; a bare mean for one seed."""
    if s.n == 0:
        return "—"
    ci = fmt_ci(s.t_ci, digits)
    return f"{s.mean:.{digits}f}" if ci == "—" else f"{s.mean:.{digits}f} {ci}"


def fmt_p(p: float) -> str:
    """p-value for a table: three decimals, '<0.001' below that, '—' when untested."""
    if _nan(p):
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def columns_for(rows: Sequence[SummaryRow], metric: str) -> list[str]:
    """The metric columns of a study's table: the compared metric, then what trials recorded."""
    recorded = {m for r in rows for m, s in r.stats.items() if s.n}
    return table_metrics(recorded, metric)


def adjustment_text(adjust: str, decisions: Sequence[Decision | None]) -> str:
    """How the adjusted p was made, for a column header and the notes."""
    kinds = {d.adjustment for d in decisions if d is not None}
    if "sequential" in kinds:
        return "sequential"
    if DUNNETT_FALLBACK in kinds:
        return "Holm"
    return ADJUSTMENTS.get(adjust).label if adjust in ADJUSTMENTS else adjust


def _adjusted_text(adjust: str, compared: Sequence[ComparedRow], level: float) -> str:
    decisions = [c.decision for c in compared]
    tested = sum(d is not None and d.verdict != UNTESTED for d in decisions)
    kinds = {d.adjustment for d in decisions if d is not None}
    if "sequential" in kinds:
        return ("the --until-resolved rule's: p × level ÷ the threshold of the look that "
                "decided (Haybittle–Peto thresholds; docs/statistics.md)")
    if DUNNETT_FALLBACK in kinds:
        return (f"Holm over the {tested} comparisons: Dunnett was asked for but the cells' "
                f"spreads differ (largest sd > {SPREAD_RATIO:g} × smallest), and its pooled "
                "variance would then misstate the error rate")
    name = adjust if adjust in ADJUSTMENTS else HOLM
    return ADJUSTMENTS.get(name).note.format(tested=tested, level=level)


def _margin_text(margin: Margin) -> str:
    if margin.value is None:
        return f"no equivalence margin ({margin.source}), so no cell is called equivalent"
    return f"margin ±{margin.value:.3g} ({margin.source})"


DELTA, P_IMPROVE, P_CI, EFFECT, P, P_EQUIV = (
    "Δ vs baseline [95% CI]", "P(improvement)", "P(impr.) 95% CI", "effect", "p",
    "p equiv. adj.")
DETECTABLE = "detectable |Δ|"


def _notes(metric: str, level: float, adjust: str, compared: Sequence[ComparedRow],
           margin: Margin, shown: Sequence[str]) -> tuple[str, ...]:
    """The notes of the columns in ``shown`` only (a note never describes a dropped column)."""
    info = METRICS.get(metric)
    low, high = info.bounds()
    how = _adjusted_text(adjust, compared, level)
    p_adj = next(h for h in shown if h.startswith("p adj."))
    notes = [
        ((shown[shown.index("n") + 1],),
         f"{info.label.capitalize()}: mean [95% t-interval] over seeds, clipped to the "
         f"metric's range [{low:g}, {high:g}]; a bare mean is one seed (no spread claimed)."),
        ((DELTA,), "Δ: cell − baseline, the mean of per-seed differences over the seeds both "
         f"ran (paired, ≥ {MIN_TEST_N} shared seeds), else the difference of means, with its "
         "95% t-interval (standard error from the seeds' spread). These intervals are per "
         "comparison, not simultaneous: one can exclude 0 while the adjusted verdict is "
         "inconclusive."),
        ((P_IMPROVE, P_CI), "P(improvement): the share of shared seeds on which the cell beats "
         "the baseline (ties ½; Bouthillier et al. 2021); unpaired, the share of all pairs of "
         "runs." + (" Its 95% interval is exact (Clopper–Pearson on wins, and on wins and "
                    "ties), paired only." if P_CI in shown else "")),
        ((EFFECT,), "Effect: Cohen's d_z of the paired differences (Hedges' g unpaired)."),
        ((P, p_adj), f"p: paired t-test (Welch's when fewer than {MIN_TEST_N} seeds are "
         f"shared); p adj.: {how}."),
        ((P_EQUIV,), f"p equiv. adj.: two one-sided tests of |Δ| ≥ margin, adjusted alike; "
         f"{_margin_text(margin)}."),
        (("verdict",), f"Verdict: equivalent when p equiv. adj. < {level:g} (the "
         f"{100 * (1 - 2 * level):g}% interval of Δ, adjusted, lies inside the margin); else "
         f"better/worse when p adj. < {level:g} in the metric's direction; else inconclusive "
         f"(these seeds cannot tell); untested: fewer than {MIN_TEST_N} seeds a side, or no "
         "spread (identical differences are no evidence)."
         + ("" if P_EQUIV in shown else f" Equivalence: {_margin_text(margin)}.")),
        (("rank",), "Rank: better cells first, then the baseline with every equivalent cell "
         "(one shared rank), then worse cells; within a tier, cells not told apart from the "
         "tier's best share its rank (1, 1, 3, ...). Inconclusive and untested cells are "
         "unresolved: no rank."),
        ((DETECTABLE,), "detectable |Δ|: for an inconclusive cell, the smallest difference its "
         "seeds would detect with 80% power at the first adjusted level (observed spread; "
         "power of the same t-test). More seeds resolve smaller differences: ablate plan."),
    ]
    return tuple(text for columns, text in notes if any(c in shown for c in columns))


def _verdict_cells(c: ComparedRow, digits: int) -> list[str]:
    d, k = c.decision, c.contrast
    rank = "unresolved" if c.rank is None else str(c.rank)
    if d is None or k is None:
        return ["—"] * 7 + [c.verdict_text, rank, ""]
    delta = fmt_num(k.diff, digits, sign=True)
    ci = fmt_ci(k.t_ci, digits)
    return [delta if ci == "—" else f"{delta} {ci}", fmt_num(k.p_improve, 2),
            fmt_ci(k.p_improve_ci, 2), fmt_effect(k.effect.value), fmt_p(d.p),
            fmt_p(d.p_adj), fmt_p(d.p_equiv_adj), c.verdict_text, rank,
            "" if _nan(d.detectable) else fmt_num(d.detectable, digits)]


def verdict_table(study: str, compared: Sequence[ComparedRow], metric: str, level: float,
                  adjust: str, margin: Margin = NO_MARGIN, drop: Sequence[str] = ()
                  ) -> TextTable:
    """The verdict table of already compared rows (see :func:`paper_table`), without the
    columns in ``drop`` and without their notes."""
    info = METRICS.get(metric)
    many_axes = len({c.row.axis for c in compared if not c.row.is_baseline}) > 1
    how = adjustment_text(adjust, [c.decision for c in compared])
    header = ([*(["axis"] if many_axes else []), "value", "n", f"{info.header} [95% CI]",
               DELTA, P_IMPROVE, P_CI, EFFECT, P, f"p adj. ({how})", P_EQUIV, "verdict",
               "rank", DETECTABLE])
    body = []
    for c in compared:
        r, s = c.row, c.row.stats.get(metric)
        cells = [*([r.axis] if many_axes else []), r.shown_label, str(r.n),
                 "—" if s is None else fmt_mean_ci(s, info.digits)]
        body.append(tuple(cells + _verdict_cells(c, info.digits)))
    keep = [i for i, h in enumerate(header) if h not in drop]
    shown = [header[i] for i in keep]
    right = tuple(h not in ("axis", "value", "verdict", "rank") for h in shown)
    return TextTable(study, tuple(shown), tuple(tuple(row[i] for i in keep) for row in body),
                     _notes(metric, level, adjust, compared, margin, shown), right)


def paper_table(study: str, rows: Sequence[SummaryRow], metric: str = "test_accuracy",
                level: float = 0.05, adjust: str = "holm",
                sequential: Sequence[Decision | None] | None = None,
                margin: Margin = NO_MARGIN, drop: Sequence[str] = ()) -> TextTable:
    """The study's verdict table: per configuration n, the compared metric's mean with its t
    CI, Δ vs the baseline with its CI, P(improvement) with its CI, the effect size, p,
    adjusted p, the equivalence test's adjusted p, verdict, rank and, for inconclusive
    cells, the detectable difference (an ``axis`` column leads when the study varies more
    than one axis). ``sequential``: the verdicts of ``--until-resolved``."""
    compared = compare_rows(rows, metric, level, adjust, sequential, margin=margin.value)
    return verdict_table(study, compared, metric, level, adjust, margin, drop)


def metrics_table(study: str, rows: Sequence[SummaryRow], metric: str) -> TextTable:
    """The other metrics the trials recorded: mean [95% t-interval] per configuration."""
    columns = columns_for(rows, metric)[1:]
    many_axes = len({r.axis for r in rows if not r.is_baseline}) > 1
    header = ([*(["axis"] if many_axes else []), "value", "n"]
              + [f"{METRICS.get(m).header} [95% CI]" for m in columns])
    body = []
    for r in rows:
        cells = [*([r.axis] if many_axes else []), r.shown_label, str(r.n)]
        cells += [fmt_mean_ci(r.stats[m], METRICS.get(m).digits) if m in r.stats else "—"
                  for m in columns]
        body.append(tuple(cells))
    right = tuple(h not in ("axis", "value") for h in header)
    return TextTable(f"{study}: other metrics", tuple(header), tuple(body),
                     ("Mean [95% t-interval] over seeds, clipped to each metric's range.",),
                     right)


def per_trial_table(study: str, trials: Sequence[TrialRecord], metric: str) -> TextTable:
    """One row per trial (raw values, no statistics) for Markdown or LaTeX."""
    recorded = {m for t in trials for m in t.metrics}
    columns = table_metrics(recorded, metric)
    header = ("trial", "state", "value", "seed", *(METRICS.get(m).header for m in columns))
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        cells = [str(t.number), t.state, t.label, str(t.seed)]
        for m in columns:
            info = METRICS.get(m)
            cells.append(f"{info.shown(t.metrics[m]):.{info.digits}f}" if m in t.metrics
                         else "—")
        rows.append(tuple(cells))
    right = tuple(h not in ("state", "value") for h in header)
    return TextTable(f"{study}: every trial", header, tuple(rows), (), right)


def cross_matrix_table(title: str, cells: Sequence[CrossCell]) -> TextTable:
    """Study 002 Table 8's shape: rows trained, columns tested, 'acc % / macro-F1 / time s'."""
    trains = list(dict.fromkeys(c.train for c in cells))
    tests = list(dict.fromkeys(c.test for c in cells))
    at = {(c.train, c.test): c for c in cells}
    rows = []
    for a in trains:
        row = [a]
        for b in tests:
            c = at.get((a, b))
            row.append(f"{100 * c.accuracy:.2f} / {c.macro_f1:.4f} / {c.infer_seconds:.2f}"
                       if c else "—")
        rows.append(tuple(row))
    mapped = sorted({f"{c.train}→{c.test}: {c.mapping}" for c in cells
                     if c.mapping != "same names"})
    notes = ("Cells: test accuracy (%) / macro-F1 / inference time for the whole test split "
             "(s); one model per training set.",
             *(["Label mappings: " + "; ".join(mapped) + "."] if mapped else []))
    return TextTable(title, ("trained \\ tested", *tests), tuple(rows), notes,
                     (False, *(True for _ in tests)))
