"""Tables in the shape of the seed papers' tables (TextTable, rendered as Markdown or LaTeX),
with the statistics columns against the baseline. Pure functions; labels, units and decimals come
from the METRICS registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ablation.analysis.metrics import METRICS, table_metrics
from ablation.analysis.records import TrialRecord
from ablation.analysis.stats import Summary
from ablation.reporting.summary import ComparedRow, SummaryRow, compare_rows
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


def _fmt_spread(s: Summary, spread: float, digits: int, empty: str) -> str:
    if s.n == 0:
        return empty
    if spread != spread:  # NaN: n = 1, no spread is claimed
        return f"{s.mean:.{digits}f}"
    return f"{s.mean:.{digits}f} ± {spread:.{digits}f}"


def fmt_mean_std(s: Summary, digits: int = 2) -> str:
    """'mean ± std' (or just the mean when n = 1)."""
    return _fmt_spread(s, s.std, digits, "-")


def fmt_mean_ci(s: Summary, digits: int = 2) -> str:
    """'mean ± CI half-width' (just the mean when n = 1: no spread is claimed)."""
    return _fmt_spread(s, s.ci_half, digits, "—")


def fmt_p(p: float) -> str:
    """p-value for a table: three decimals, '<0.001' below that, '—' when untested."""
    if p != p:
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def columns_for(rows: Sequence[SummaryRow], metric: str) -> list[str]:
    """The metric columns of a study's table: the compared metric, then what trials recorded."""
    recorded = {m for r in rows for m, s in r.stats.items() if s.n}
    return table_metrics(recorded, metric)


def _notes(metric: str, level: float, adjust: str) -> tuple[str, ...]:
    name = METRICS.get(metric).label
    holm = (" Verdicts use Holm-adjusted p-values over the comparisons with the baseline "
            "(p shows the unadjusted value)." if adjust == "holm" else
            " No correction for multiple comparisons (--adjust holm applies one).")
    return ("Cells: mean ± half-width of the 95% confidence interval over seeds "
            "(t distribution); a bare mean is a single seed (n = 1, no spread claimed).",
            f"Δ, p and verdict compare {name} with the baseline at level {level:g}: paired "
            "t-test where both ran the same seeds, else Welch's t-test; 'untested (n<2)' "
            "means too few seeds to test." + holm,
            f"Rank on {name}: configurations not distinguishable from the best share rank 1; "
            "the next group's leader and its ties share the following rank (1, 1, 3, ...).")


def _stat_cells(c: ComparedRow, digits: int) -> list[str]:
    comp = c.comparison
    if comp is None:
        return ["—", "—", "—", c.verdict_text, str(c.rank)]
    diff = f"{comp.diff:+.{digits}f}" if comp.diff == comp.diff else "—"
    return [diff, fmt_p(comp.p), comp.test or "—", c.verdict_text, str(c.rank)]


def paper_table(study: str, rows: Sequence[SummaryRow], metric: str = "test_accuracy",
                level: float = 0.05, adjust: str = "none") -> TextTable:
    """The study in the shape of the seed tables, plus the statistics columns.

    value | n | <compared metric> | <other recorded table metrics> | Δ | p | test | verdict |
    rank; an ``axis`` column leads when the study varies more than one axis.
    """
    compared = compare_rows(rows, metric, level, adjust)
    info = METRICS.get(metric)
    columns = columns_for(rows, metric)
    many_axes = len({r.axis for r in rows if not r.is_baseline}) > 1
    header = ([*(["axis"] if many_axes else []), "value", "n"]
              + [f"{METRICS.get(m).header} ± CI95" for m in columns]
              + [f"Δ {info.label} vs baseline", "p", "test", "verdict", "rank"])
    body = []
    for c in compared:
        r = c.row
        cells = [*([r.axis] if many_axes else []), r.shown_label, str(r.n)]
        cells += [fmt_mean_ci(r.stats[m], METRICS.get(m).digits) if m in r.stats else "—"
                  for m in columns]
        body.append(tuple(cells + _stat_cells(c, info.digits)))
    right = tuple(h not in ("axis", "value", "test", "verdict") for h in header)
    return TextTable(study, tuple(header), tuple(body), _notes(metric, level, adjust), right)


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
