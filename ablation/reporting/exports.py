"""What ``ablate export`` writes: CSV (summary, per trial, Pareto front), Markdown and LaTeX, and
the Kaggle submission of ``ablate predict``. Pure functions returning text.

CSV conventions: every value in display units with the unit in the column name (accuracies in
percent everywhere: ``test_accuracy_pct_mean``, per trial ``test_accuracy_pct``), integers
written exactly (``1765800``, never ``1.7658e+06``), NaN as an empty cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ablation.analysis.contrasts import Contrast
from ablation.analysis.estimates import CellEstimate
from ablation.analysis.evalnoise import NoiseShare
from ablation.analysis.intervals import Interval, boot_coverage
from ablation.analysis.metrics import METRICS
from ablation.analysis.pareto import ParetoRow
from ablation.analysis.records import Evidence, TrialRecord, is_search_stage
from ablation.analysis.verdicts import Decision
from ablation.reporting.latex import (
    compact_metrics_table,
    compact_verdict_table,
    latex_document_tables,
)
from ablation.reporting.looks import sequential_decisions
from ablation.reporting.noise import NO_EVIDENCE, noise_by_cell
from ablation.reporting.recipe_tables import effect_rows, recipe_table, step_rows
from ablation.reporting.summary import (
    ComparedRow,
    Margin,
    SummaryRow,
    compare_rows,
    recorded_metrics,
    resolve_margin,
    summary_rows,
)
from ablation.reporting.tables import (
    metrics_table,
    per_trial_table,
    search_table,
    verdict_table,
)
from ablation.reporting.text import to_markdown
from ablation.spec.recipe import FACTORIAL, LEAVE_ONE_OUT, Recipe


def number(x: float | None, integer: bool = False) -> str:
    """A CSV number: exact for integers, else up to 10 significant digits, never in exponent
    notation; '' for NaN or None (n too small, not recorded)."""
    if x is None or x != x:
        return ""
    if integer or float(x).is_integer():
        return str(int(round(x)))
    return np.format_float_positional(float(f"{x:.10g}"), trim="-")


def column(metric: str) -> str:
    """A metric's CSV column stem, with its unit where the name does not say it."""
    info = METRICS.get(metric)
    return f"{metric}_pct" if info.percent else metric


def _estimate_head(metric: str) -> list[str]:
    c = column(metric)
    return [f"{c}_mean", f"{c}_std", f"{c}_t_ci95_low", f"{c}_t_ci95_high",
            f"{c}_boot_ci95_low", f"{c}_boot_ci95_high", f"{c}_boot_method",
            f"{c}_boot_coverage", f"{c}_iqm"]


def _coverage(ci: Interval, n: int, paired: bool = True) -> str:
    """The measured coverage of a nominal-95% bootstrap interval at n seeds ('' without one):
    its label, since it falls short of 95% at few seeds (docs/statistics.md)."""
    return "" if ci.method == "" else number(boot_coverage(n, paired))


def _estimate_cells(s: CellEstimate | None) -> list[str]:
    if s is None:
        return [""] * 9
    return [number(s.mean), number(s.std), number(s.t_ci.low), number(s.t_ci.high),
            number(s.boot_ci.low), number(s.boot_ci.high), s.boot_ci.method,
            _coverage(s.boot_ci, s.n), number(s.iqm)]


def comparison_head(metric: str) -> list[str]:
    """The comparison's CSV columns; Δ and its intervals carry the compared metric's unit."""
    d = f"diff_{column(metric)}"
    return ["compared_metric", "level", "adjustment", "test", "n_compared", d,
            f"{d}_t_ci95_low", f"{d}_t_ci95_high", f"{d}_boot_ci95_low", f"{d}_boot_ci95_high",
            f"{d}_boot_coverage", "p_improvement", "p_improvement_ci95_low",
            "p_improvement_ci95_high", "p_improvement_ci_method", "effect_size",
            "effect_size_kind", "p_value", "p_adjusted", "equivalence_margin",
            "p_equivalence", "p_equivalence_adjusted", "verdict", "note", "rank",
            f"detectable_{d}"]


NOISE_HEAD = ["test_noise_method", "test_noise_runs", "test_noise_n_test",
              "test_noise_var_pct2", "observed_var_pct2", "test_noise_share",
              "test_noise_share_ci95_low", "test_noise_share_ci95_high"]


def _comparison_cells(c: ComparedRow, metric: str, level: float, adjust: str) -> list[object]:
    d, k = c.decision, c.contrast
    how = d.adjustment if d else adjust
    rank = "" if c.rank is None else c.rank
    if d is None or k is None:
        return [metric, level, how, *[""] * 19, c.verdict or "", "", rank, ""]
    return [metric, level, how, d.test, d.n, number(k.diff), number(k.t_ci.low),
            number(k.t_ci.high), number(k.boot_ci.low), number(k.boot_ci.high),
            _coverage(k.boot_ci, k.n, k.paired), number(k.p_improve),
            number(k.p_improve_ci.low), number(k.p_improve_ci.high), k.p_improve_ci.method,
            number(k.effect.value), k.effect.name, number(d.p), number(d.p_adj),
            number(d.margin), number(d.p_equiv), number(d.p_equiv_adj), d.verdict, d.note,
            rank, number(d.detectable)]


def _noise_cells(share: NoiseShare | None) -> list[object]:
    if share is None:
        return [""] * len(NOISE_HEAD)
    return [share.method, share.runs, share.n_test, number(share.test_var),
            number(share.observed_var), number(share.share), number(share.share_ci.low),
            number(share.share_ci.high)]


@dataclass(frozen=True)
class TableInputs:
    """Everything the summary renderings need besides the trials."""

    metric: str = "test_accuracy"
    level: float = 0.05
    adjust: str = "holm"
    looks: Sequence[Mapping[str, Any]] = ()  # ablate_looks records of --until-resolved
    evidence: Evidence = NO_EVIDENCE
    margin: float | None = None  # equivalence margin (display units); None: the default rule
    margin_source: str = "--margin"  # where ``margin`` came from, for the notes
    sizes: Mapping[str, int] = field(default_factory=dict)  # split sizes (the default margin)

    def margin_for(self, rows: Sequence[SummaryRow]) -> Margin:
        """The margin the tables use: the given one, else the default rule's."""
        return resolve_margin(rows, self.metric, self.margin, self.margin_source, self.sizes)
    recipe: Recipe | None = None  # a recipe study's design and components


def summary_csv(study: str, rows: Sequence[SummaryRow], compared: Sequence[ComparedRow],
                noise: Mapping[tuple[str, str], NoiseShare | None], inputs: TableInputs) -> str:
    """CSV text: one row per configuration: n and every recorded metric's estimates (mean,
    std, t and bootstrap 95% CIs with the bootstrap's method and measured coverage, IQM from
    n = 5), the comparison with the baseline on the compared metric (Δ with both CIs,
    P(improvement) with its exact CI, effect size, test, p, adjusted p, margin, equivalence p,
    verdict, rank, detectable Δ), and the test-set noise share."""
    metrics = [m for m in METRICS if any(m in r.stats and r.stats[m].n for r in rows)]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["study", "axis", "value", "baseline", "n",
                *(h for m in metrics for h in _estimate_head(m)),
                *comparison_head(inputs.metric), *NOISE_HEAD])
    for c in compared:
        r = c.row
        line: list[object] = [study, r.axis, r.label, r.is_baseline, r.n]
        for m in metrics:
            line += _estimate_cells(r.stats.get(m))
        line += _comparison_cells(c, inputs.metric, inputs.level, inputs.adjust)
        line += _noise_cells(noise.get((r.axis, r.label)))
        w.writerow(line)
    return out.getvalue()


def per_trial_csv(study: str, trials: Sequence[TrialRecord]) -> str:
    """CSV text: one row per trial with its state, seed, parameters and every recorded metric
    in display units (accuracies in percent, as in the summary)."""
    params = sorted({k for t in trials for k in t.params})
    metrics = recorded_metrics(trials)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["study", "trial", "state", "axis", "value", "seed", *params,
                *(column(m) for m in metrics)])
    for t in sorted(trials, key=lambda t: t.number):
        w.writerow([study, t.number, t.state, t.axis, t.label, t.seed,
                    *(t.params.get(p, "") for p in params),
                    *(number(METRICS.get(m).shown(t.metrics[m]), METRICS.get(m).integer)
                      if m in t.metrics else "" for m in metrics)])
    return out.getvalue()


def pareto_csv(rows: Sequence[ParetoRow]) -> str:
    """CSV text of an accuracy-vs-bytes front, smallest artifact first (accuracy in percent)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["label", "seeds", "artifact_test_accuracy_pct", "artifact_bytes", "on_front"])
    for r in sorted(rows, key=lambda r: r.artifact_bytes):
        w.writerow([r.label, r.seeds, number(100 * r.artifact_test_accuracy),
                    number(r.artifact_bytes, integer=True), int(r.on_front)])
    return out.getvalue()


def export_texts(study: str, trials: Sequence[TrialRecord], kinds: Sequence[str], *,
                 per_trial: bool = False, inputs: TableInputs = TableInputs(),
                 confirmed: str | None = None, **given: Any) -> dict[str, str]:
    """The requested renderings (``csv``, ``markdown``, ``latex``) of a study's tables;
    ``metric=``, ``level=``, ``adjust=`` (given as keywords) replace the inputs' ones. A search
    stage gets its search table (no ranks or verdicts) pointing at ``confirmed``."""
    inputs = replace(inputs, **given)
    if is_search_stage(trials) and not per_trial:
        table = search_table(study, trials, inputs.metric, confirmed)
        texts = {"csv": per_trial_csv(study, trials), "markdown": to_markdown(table),
                 "latex": latex_document_tables([table], keys=3)}
        return {k: texts[k] for k in kinds}
    if per_trial:
        table = per_trial_table(study, trials, inputs.metric)
        texts = {"csv": per_trial_csv(study, trials), "markdown": to_markdown(table),
                 "latex": latex_document_tables([table], keys=3)}
        return {k: texts[k] for k in kinds}
    rows = summary_rows(trials, inputs.metric)
    margin = inputs.margin_for(rows)
    compared = compare_rows(rows, inputs.metric, inputs.level, inputs.adjust,
                            sequential_decisions(rows, inputs.looks, inputs.metric),
                            margin=margin.value)
    recipe = inputs.recipe
    first = ([recipe_table(study, rows, recipe, inputs.metric, inputs.level, inputs.adjust,
                           margin.value)] if recipe is not None else [])
    out = {}
    for kind in kinds:
        if kind == "csv" and recipe is not None and recipe.design != LEAVE_ONE_OUT:
            out[kind] = recipe_csv(study, rows, recipe, inputs.metric, inputs.level,
                                   inputs.adjust, margin.value)
        elif kind == "csv":
            out[kind] = summary_csv(study, rows, compared,
                                    noise_by_cell(trials, inputs.evidence), inputs)
        elif kind == "markdown":
            out[kind] = "\n".join(to_markdown(t) for t in (
                *first, verdict_table(study, compared, inputs.metric, inputs.level,
                                      inputs.adjust, margin),
                metrics_table(study, rows, inputs.metric)))
        else:
            out[kind] = latex_document_tables([
                *first, compact_verdict_table(study, compared, inputs.metric, inputs.level,
                                              inputs.adjust, margin),
                compact_metrics_table(study, rows, inputs.metric)])
    return out


def _ci_cells(k: Contrast | None) -> list[str]:
    if k is None:
        return [""] * 3
    return [number(k.diff), number(k.t_ci.low), number(k.t_ci.high)]


def _decision_cells(d: Decision | None) -> list[str]:
    return ["", "", ""] if d is None else [number(d.p), number(d.p_adj), d.verdict]


def recipe_csv(study: str, rows: Sequence[SummaryRow], recipe: Recipe, metric: str,
               level: float, adjust: str, margin: float | None = None) -> str:
    """CSV text of a cumulative recipe (one row per step: estimate, artifact bytes, the step
    and the total with t-intervals, p, adjusted p, verdicts) or a factorial one (one row per
    effect: estimate, t-interval, p, adjusted p, verdict, aliases); display units."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    c, d = column(metric), f"diff_{column(metric)}"
    ci = [f"{d}", f"{d}_t_ci95_low", f"{d}_t_ci95_high"]
    if recipe.design == FACTORIAL:
        w.writerow(["study", "effect", "seeds", *ci, "p_value", "p_adjusted", "verdict",
                    "aliased_with", "level", "adjustment"])
        for e in effect_rows(rows, recipe, metric, level, adjust, margin):
            w.writerow([study, e.effect.name, len(e.effect.per_seed), *_ci_cells(e.contrast),
                        *_decision_cells(e.decision), "; ".join(e.aliased), level, adjust])
        return out.getvalue()
    w.writerow(["study", "row", "n", f"{c}_mean", f"{c}_t_ci95_low", f"{c}_t_ci95_high",
                "artifact_bytes_mean", *(f"step_{h}" for h in ci), "step_p_value",
                "step_p_adjusted", "step_verdict", *(f"total_{h}" for h in ci),
                "total_p_value", "total_p_adjusted", "total_verdict", "level", "adjustment"])
    for s in step_rows(rows, recipe, metric, level, adjust, margin):
        est = s.row.stats.get(metric) if s.row else None
        size = s.row.stats.get("artifact_bytes") if s.row else None
        t = s.total
        w.writerow([study, s.label, s.row.n if s.row else 0,
                    *([number(est.mean), number(est.t_ci.low), number(est.t_ci.high)] if est
                      else ["", "", ""]), number(size.mean) if size else "",
                    *_ci_cells(s.step), *_decision_cells(s.step_decision),
                    *_ci_cells(t.contrast if t else None),
                    *_decision_cells(t.decision if t else None), level, adjust])
    return out.getvalue()


def submission_csv(labels: Sequence[int]) -> str:
    """Kaggle digit-recognizer submission: 'ImageId,Label' with ImageId counted from 1."""
    return "ImageId,Label\n" + "".join(f"{i},{y}\n" for i, y in enumerate(labels, start=1))
