"""Summary rows in the shape of the seed papers' tables. Pure functions over TrialRecords."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ablation.analysis.records import TABLE_METRICS, TrialRecord
from ablation.analysis.stats import (
    Comparison,
    Summary,
    adjust_family,
    compare,
    higher_is_better,
    rank_groups,
    summarize,
)
from ablation.reporting.text import TextTable, to_latex, to_markdown


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


SUMMARY_METRICS = ("test_accuracy", "test_loss", "train_seconds", "macro_f1")
PERCENT = {"test_accuracy", "val_accuracy"}


@dataclass(frozen=True)
class SummaryRow:
    """One configuration (axis value) of a study, summarised over its seeds."""

    axis: str
    label: str
    is_baseline: bool
    n: int
    stats: dict[str, Summary]
    samples: dict[str, dict[int, float]] = field(default_factory=dict)  # metric -> seed -> value


def _scale(metric: str, value: float) -> float:
    return value * 100 if metric in PERCENT else value


def summary_rows(trials: Sequence[TrialRecord]) -> list[SummaryRow]:
    """Group complete trials by (axis, value) in first-seen order and summarise each metric.

    Accuracies are in percent, as in the seed tables.
    """
    groups: dict[tuple[str, str], list[TrialRecord]] = {}
    for t in sorted(trials, key=lambda t: t.number):
        if t.state == "complete":
            groups.setdefault((t.axis, t.label), []).append(t)
    rows = []
    for (axis, label), members in groups.items():
        samples = {m: {t.seed: _scale(m, t.metrics[m]) for t in members if m in t.metrics}
                   for m in SUMMARY_METRICS}
        stats = {m: summarize([_scale(m, t.metrics[m]) for t in members if m in t.metrics])
                 for m in SUMMARY_METRICS}
        rows.append(SummaryRow(axis, label, members[0].is_baseline, len(members), stats,
                               samples))
    return rows


@dataclass(frozen=True)
class ComparedRow:
    """A summary row with its comparison against the baseline on one metric, and its rank."""

    row: SummaryRow
    comparison: Comparison | None  # None for the baseline itself, or when there is no baseline
    rank: int

    @property
    def verdict(self) -> str:
        """better / worse / indistinguishable / untested, 'baseline', or '' (no baseline)."""
        if self.comparison is not None:
            return self.comparison.verdict
        return "baseline" if self.row.is_baseline else ""


def compare_rows(rows: Sequence[SummaryRow], metric: str = "test_accuracy",
                 level: float = 0.05, adjust: str = "none") -> list[ComparedRow]:
    """Compare every row with the baseline row on ``metric`` and rank them with ties.

    See :func:`ablation.stats.compare` (paired test when the seeds match, else Welch) and
    :func:`ablation.stats.rank_groups` (rank 1 = not distinguishable from the best). Every
    comparison carries its Holm-adjusted p over the study's comparisons with the baseline; with
    ``adjust="holm"`` the verdicts use it (ranks stay unadjusted).
    """
    up = higher_is_better(metric)
    base = next((r for r in rows if r.is_baseline), None)
    ranks = rank_groups([r.samples.get(metric, {}) for r in rows], up, level)
    comps: dict[int, Comparison] = {}
    if base is not None:
        for i, r in enumerate(rows):
            if r is not base:
                comps[i] = compare(r.samples.get(metric, {}), base.samples.get(metric, {}), up,
                                   level)
    comps = dict(zip(comps, adjust_family(list(comps.values()), up, level, adjust),
                     strict=True))
    return [ComparedRow(r, comps.get(i), rank)
            for i, (r, rank) in enumerate(zip(rows, ranks, strict=True))]


def summary_csv(study: str, rows: Sequence[SummaryRow], metric: str = "test_accuracy",
                level: float = 0.05, adjust: str = "none") -> str:
    """CSV text: one row per configuration with n, mean, std and 95% CI of each metric, then
    the comparison with the baseline on ``metric`` (difference, test, p, verdict, rank, and the
    Holm-adjusted p with the adjustment the verdict used)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    head = ["study", "axis", "value", "baseline", "n"]
    for m in SUMMARY_METRICS:
        head += [f"{m}_mean", f"{m}_std", f"{m}_ci95_low", f"{m}_ci95_high"]
    head += ["compared_metric", "level", "diff_vs_baseline", "test", "p_value", "welch_p_value",
             "verdict", "note", "rank", "p_holm", "verdict_adjustment"]
    w.writerow(head)
    for c in compare_rows(rows, metric, level, adjust):
        r, comp = c.row, c.comparison
        line: list[object] = [study, r.axis, r.label, r.is_baseline, r.n]
        for m in SUMMARY_METRICS:
            s = r.stats[m]
            line += [_num(s.mean), _num(s.std), _num(s.ci_low), _num(s.ci_high)]
        line += [metric, level]
        line += ([_num(comp.diff), comp.test, _num(comp.p), _num(comp.welch_p), comp.verdict,
                  comp.note] if comp else ["", "", "", "", c.verdict, ""])
        line += [c.rank, _num(comp.p_holm) if comp else "", adjust]
        w.writerow(line)
    return out.getvalue()


def per_trial_csv(study: str, trials: Sequence[TrialRecord]) -> str:
    """CSV text: one row per trial with its state, seed, parameters and every metric."""
    params = sorted({k for t in trials for k in t.params if k != "seed"})
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["study", "trial", "state", "axis", "value", "seed", *params, *TABLE_METRICS])
    for t in sorted(trials, key=lambda t: t.number):
        w.writerow([study, t.number, t.state, t.axis, t.label, t.seed,
                    *(t.params.get(p, "") for p in params),
                    *(_num(t.metrics[m]) if m in t.metrics else "" for m in TABLE_METRICS)])
    return out.getvalue()


def _num(x: float) -> str:
    return "" if x != x else f"{x:.6g}"  # NaN (n too small) stays an empty cell


def _fmt_spread(s: Summary, spread: float, digits: int, empty: str) -> str:
    if s.n == 0:
        return empty
    if spread != spread:  # NaN: n = 1, no spread is claimed
        return f"{s.mean:.{digits}f}"
    return f"{s.mean:.{digits}f} ± {spread:.{digits}f}"


def fmt_mean_std(s: Summary, digits: int = 2) -> str:
    """'mean ± std' (or just the mean when n = 1)."""
    return _fmt_spread(s, s.std, digits, "-")


# Paper columns: (metric, header, decimals); accuracies in percent as in the seed tables.
PAPER_COLUMNS = (("test_loss", "test loss", 4), ("test_accuracy", "test accuracy (%)", 2),
                 ("macro_f1", "macro-F1", 4), ("train_seconds", "training time (s)", 1))
METRIC_NAMES = {"test_accuracy": "test accuracy", "test_loss": "test loss",
                "macro_f1": "macro-F1", "train_seconds": "training time",
                "val_accuracy": "validation accuracy"}


def fmt_mean_ci(s: Summary, digits: int = 2) -> str:
    """'mean ± CI half-width' (just the mean when n = 1: no spread is claimed)."""
    return _fmt_spread(s, s.ci_half, digits, "—")


def fmt_p(p: float) -> str:
    """p-value for a table: three decimals, '<0.001' below that, '—' when untested."""
    if p != p:
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _verdict_text(c: ComparedRow) -> str:
    note = c.comparison.note if c.comparison else ""
    return f"{c.verdict} ({note})" if note else c.verdict or "—"


def paper_table(study: str, rows: Sequence[SummaryRow], metric: str = "test_accuracy",
                level: float = 0.05, adjust: str = "none") -> TextTable:
    """The study in the shape of the seed tables, plus the statistics columns.

    value | n | test loss | test accuracy (%) | macro-F1 | training time (s) | Δ | p | test |
    verdict | rank; an ``axis`` column leads when the study varies more than one axis.
    """
    compared = compare_rows(rows, metric, level, adjust)
    digits = dict((m, d) for m, _, d in PAPER_COLUMNS).get(metric, 4)
    many_axes = len({r.axis for r in rows if not r.is_baseline}) > 1
    name = METRIC_NAMES.get(metric, metric)
    header = ([*(["axis"] if many_axes else []), "value", "n"]
              + [f"{h} ± CI95" for _, h, _ in PAPER_COLUMNS]
              + [f"Δ {name} vs baseline", "p", "test", "verdict", "rank"])
    body = []
    for c in compared:
        r = c.row
        value = f"{r.label} (baseline)" if r.is_baseline and r.label != "baseline" else r.label
        cells = [*([r.axis] if many_axes else []), value, str(r.n)]
        cells += [fmt_mean_ci(r.stats[m], d) for m, _, d in PAPER_COLUMNS]
        comp = c.comparison
        cells += ([f"{comp.diff:+.{digits}f}" if comp.diff == comp.diff else "—",
                   fmt_p(comp.p), comp.test or "—"] if comp else ["—", "—", "—"])
        cells += [_verdict_text(c), str(c.rank)]
        body.append(tuple(cells))
    notes = ("Cells: mean ± half-width of the 95% confidence interval over seeds "
             "(t distribution); a bare mean is a single seed (n = 1, no spread claimed).",
             f"Δ, p and verdict compare {name} with the baseline at level {level:g}: paired "
             f"t-test where both ran the same seeds, else Welch's t-test; 'untested (n<2)' "
             f"means too few seeds to test."
             + (" Verdicts use Holm-adjusted p-values over the comparisons with the baseline "
                "(p shows the unadjusted value)." if adjust == "holm" else
                " No correction for multiple comparisons (--adjust holm applies one)."),
             f"Rank on {name}: configurations not distinguishable from the best share rank 1; "
             f"the next group's leader and its ties share the following rank (1, 1, 3, ...).")
    right = tuple(h not in ("axis", "value", "test", "verdict") for h in header)
    return TextTable(study, tuple(header), tuple(body), notes, right)


def per_trial_table(study: str, trials: Sequence[TrialRecord]) -> TextTable:
    """One row per trial (raw values, no statistics) for Markdown or LaTeX."""
    header = ("trial", "state", "value", "seed", *(h for _, h, _ in PAPER_COLUMNS))
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        cells = [str(t.number), t.state, t.label, str(t.seed)]
        cells += [f"{_scale(m, t.metrics[m]):.{d}f}" if m in t.metrics else "—"
                  for m, _, d in PAPER_COLUMNS]
        rows.append(tuple(cells))
    right = tuple(h not in ("state", "value") for h in header)
    return TextTable(f"{study}: every trial", header, tuple(rows), (), right)


def export_texts(study: str, trials: Sequence[TrialRecord], kinds: Sequence[str], *,
                 per_trial: bool = False, metric: str = "test_accuracy",
                 level: float = 0.05, adjust: str = "none") -> dict[str, str]:
    """The requested renderings (``csv``, ``markdown``, ``latex``) of a study's table."""
    rows = summary_rows(trials)
    out = {}
    for kind in kinds:
        if kind == "csv":
            out[kind] = (per_trial_csv(study, trials) if per_trial
                         else summary_csv(study, rows, metric, level, adjust))
            continue
        table = per_trial_table(study, trials) if per_trial else paper_table(
            study, rows, metric, level, adjust)
        out[kind] = to_markdown(table) if kind == "markdown" else to_latex(table)
    return out


def submission_csv(labels: Sequence[int]) -> str:
    """Kaggle digit-recognizer submission: 'ImageId,Label' with ImageId counted from 1."""
    return "ImageId,Label\n" + "".join(f"{i},{y}\n" for i, y in enumerate(labels, start=1))


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
