"""The study's tables as TextTables (rendered as Markdown or LaTeX): the verdict table first
(the compared metric, Δ vs baseline, P(improvement), effect size, p, adjusted p, verdict,
rank), then the other metrics. Pure functions; labels, units, decimals and ranges come from the
METRICS registry, the statistics from ``reporting/summary.py``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ablation.analysis.estimates import CellEstimate
from ablation.analysis.intervals import Interval
from ablation.analysis.metrics import METRICS, table_metrics
from ablation.analysis.records import TrialRecord
from ablation.analysis.verdicts import Decision
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
    return {"holm": "Holm", "dunnett": "Dunnett", "none": "none"}.get(adjust, adjust)


def _notes(metric: str, level: float, adjust: str, compared: Sequence[ComparedRow],
           ) -> tuple[str, ...]:
    info = METRICS.get(metric)
    tested = sum(c.decision is not None and c.decision.verdict != "untested" for c in compared)
    low, high = info.bounds()
    how = adjustment_text(adjust, [c.decision for c in compared])
    adjusted = {
        "Holm": f"Holm over the {tested} comparisons with the baseline (family-wise error "
                f"≤ {level:g})",
        "Dunnett": f"Dunnett's many-to-one test over the {tested} comparisons (pooled "
                   "variance, unpaired: p is its unadjusted t-test)",
        "none": "not adjusted (each comparison at the level on its own)",
        "sequential": "the --until-resolved rule's: p × level ÷ the threshold of the look "
                      "that decided (Haybittle–Peto thresholds; docs/statistics.md)"}[how]
    return (
        f"{info.label.capitalize()}: mean [95% t-interval] over seeds, clipped to the "
        f"metric's range [{low:g}, {high:g}]; a bare mean is one seed (no spread claimed). "
        "Bootstrap intervals: BCa, else percentile (the method is named), 9,999 resamples, "
        "seed 0.",
        "Δ: cell − baseline, the mean of per-seed differences over the seeds both ran "
        "(paired, ≥ 2 shared seeds), else the difference of means, with its 95% t-interval. "
        "These intervals are per comparison, not simultaneous: one can exclude 0 while the "
        "adjusted verdict says indistinguishable.",
        "P(improvement): how often a run of the cell beats a run of the baseline with the "
        "same seed (ties ½; Bouthillier et al. 2021), with a 95% bootstrap interval. Effect: "
        "Cohen's d_z of the paired differences (Hedges' g unpaired).",
        f"p: paired t-test (Welch's when fewer than 2 seeds are shared); p adj.: {adjusted}. "
        f"Verdict: better/worse when p adj. < {level:g} in the metric's direction; "
        "'untested (n<2)': too few seeds to test.",
        "Rank: better cells first, then the baseline with every cell not told apart from it "
        "(one shared rank), then worse cells; within a tier, cells not told apart from the "
        "tier's best share its rank (1, 1, 3, ...).")


def _verdict_cells(c: ComparedRow, digits: int) -> list[str]:
    d, k = c.decision, c.contrast
    if d is None or k is None:
        return ["—"] * 6 + [c.verdict_text, str(c.rank)]
    delta = fmt_num(k.diff, digits, sign=True)
    ci = fmt_ci(k.t_ci, digits)
    return [delta if ci == "—" else f"{delta} {ci}", fmt_num(k.p_improve, 2),
            fmt_ci(k.p_improve_ci, 2), fmt_effect(k.effect.value), fmt_p(d.p),
            fmt_p(d.p_adj), c.verdict_text, str(c.rank)]


P_CI = "P(impr.) 95% CI"


def verdict_table(study: str, compared: Sequence[ComparedRow], metric: str, level: float,
                  adjust: str) -> TextTable:
    """The verdict table of already compared rows (see :func:`paper_table`)."""
    info = METRICS.get(metric)
    many_axes = len({c.row.axis for c in compared if not c.row.is_baseline}) > 1
    how = adjustment_text(adjust, [c.decision for c in compared])
    header = ([*(["axis"] if many_axes else []), "value", "n",
               f"{info.header} [95% CI]", "bootstrap 95% CI", "Δ vs baseline [95% CI]",
               "P(improvement)", P_CI, "effect", "p", f"p adj. ({how})", "verdict", "rank"])
    body = []
    for c in compared:
        r, s = c.row, c.row.stats.get(metric)
        boot = "—" if s is None else fmt_ci(s.boot_ci, info.digits)
        if s is not None and boot != "—":
            boot = f"{boot} {s.boot_ci.method}"
        cells = [*([r.axis] if many_axes else []), r.shown_label, str(r.n),
                 "—" if s is None else fmt_mean_ci(s, info.digits), boot]
        body.append(tuple(cells + _verdict_cells(c, info.digits)))
    right = tuple(h not in ("axis", "value", "verdict") for h in header)
    return TextTable(study, tuple(header), tuple(body),
                     _notes(metric, level, adjust, compared), right)


def paper_table(study: str, rows: Sequence[SummaryRow], metric: str = "test_accuracy",
                level: float = 0.05, adjust: str = "holm",
                sequential: Sequence[Decision | None] | None = None) -> TextTable:
    """The study's verdict table: per configuration n, the compared metric's mean with its t
    and bootstrap CIs, Δ vs the baseline with its CI, P(improvement) with its CI, the effect
    size, p, adjusted p, verdict and rank (an ``axis`` column leads when the study varies
    more than one axis). ``sequential``: the verdicts of ``--until-resolved``."""
    compared = compare_rows(rows, metric, level, adjust, sequential)
    return verdict_table(study, compared, metric, level, adjust)


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


def search_table(study: str, trials: Sequence[TrialRecord], metric: str,
                 confirmed: str | None = None) -> TextTable:
    """A search stage's table: its complete trials best first by ``metric``, one seed each, and
    no ranks, verdicts or p-values (single-seed trials are not compared with each other)."""
    info = METRICS.get(metric)
    done = [t for t in trials if t.state == "complete" and metric in t.metrics]
    done.sort(key=lambda t: t.metrics[metric], reverse=info.higher_is_better)
    rows = tuple((str(t.number), t.label, str(t.seed),
                  f"{info.shown(t.metrics[metric]):.{info.digits}f}") for t in done)
    after = (f"The confirmed table (the top configurations over several seeds, with verdicts): "
             f"ablate show {confirmed}." if confirmed else
             "Confirm the best configurations over several seeds (study.confirm) before "
             "drawing conclusions.")
    note = (f"A search stage: each row is one trial of the sampled search on one seed, best "
            f"first by {info.label}; {len(trials) - len(done)} trial(s) not complete are left "
            "out. Single-seed trials are not compared with each other: no ranks, verdicts or "
            f"p-values here. {after}")
    return TextTable(f"{study}: search stage ({len(done)} single-seed trials)",
                     ("trial", "value", "seed", info.header), rows, (note,),
                     (True, False, True, True))


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
