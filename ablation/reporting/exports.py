"""What ``ablate export`` writes: CSV (summary, per trial, Pareto front), Markdown and LaTeX, and
the Kaggle submission of ``ablate predict``. Pure functions returning text."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from ablation.analysis.metrics import METRICS
from ablation.analysis.pareto import ParetoRow
from ablation.analysis.records import TrialRecord
from ablation.reporting.summary import SummaryRow, compare_rows, recorded_metrics, summary_rows
from ablation.reporting.tables import paper_table, per_trial_table
from ablation.reporting.text import to_latex, to_markdown


def _num(x: float) -> str:
    return "" if x != x else f"{x:.6g}"  # NaN (n too small) stays an empty cell


def summary_csv(study: str, rows: Sequence[SummaryRow], metric: str = "test_accuracy",
                level: float = 0.05, adjust: str = "none") -> str:
    """CSV text: one row per configuration with n, mean, std and 95% CI of every recorded
    metric, then the comparison with the baseline on ``metric`` (difference, test, p, verdict,
    rank, and the Holm-adjusted p with the adjustment the verdict used)."""
    metrics = [m for m in METRICS if any(m in r.stats and r.stats[m].n for r in rows)]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    head = ["study", "axis", "value", "baseline", "n"]
    for m in metrics:
        head += [f"{m}_mean", f"{m}_std", f"{m}_ci95_low", f"{m}_ci95_high"]
    head += ["compared_metric", "level", "diff_vs_baseline", "test", "p_value", "welch_p_value",
             "verdict", "note", "rank", "p_holm", "verdict_adjustment"]
    w.writerow(head)
    for c in compare_rows(rows, metric, level, adjust):
        r, comp = c.row, c.comparison
        line: list[object] = [study, r.axis, r.label, r.is_baseline, r.n]
        for m in metrics:
            s = r.stats.get(m)
            line += ([_num(s.mean), _num(s.std), _num(s.ci_low), _num(s.ci_high)] if s
                     else ["", "", "", ""])
        line += [metric, level]
        line += ([_num(comp.diff), comp.test, _num(comp.p), _num(comp.welch_p), comp.verdict,
                  comp.note] if comp else ["", "", "", "", c.verdict, ""])
        line += [c.rank, _num(comp.p_holm) if comp else "", adjust]
        w.writerow(line)
    return out.getvalue()


def per_trial_csv(study: str, trials: Sequence[TrialRecord]) -> str:
    """CSV text: one row per trial with its state, seed, parameters and every recorded metric."""
    params = sorted({k for t in trials for k in t.params})
    metrics = recorded_metrics(trials)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["study", "trial", "state", "axis", "value", "seed", *params, *metrics])
    for t in sorted(trials, key=lambda t: t.number):
        w.writerow([study, t.number, t.state, t.axis, t.label, t.seed,
                    *(t.params.get(p, "") for p in params),
                    *(_num(t.metrics[m]) if m in t.metrics else "" for m in metrics)])
    return out.getvalue()


def pareto_csv(rows: Sequence[ParetoRow]) -> str:
    """CSV text of an accuracy-vs-bytes front, smallest artifact first."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["label", "seeds", "artifact_test_accuracy", "artifact_bytes", "on_front"])
    for r in sorted(rows, key=lambda r: r.artifact_bytes):
        w.writerow([r.label, r.seeds, f"{r.artifact_test_accuracy:.6f}",
                    f"{r.artifact_bytes:.0f}", int(r.on_front)])
    return out.getvalue()


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
        table = per_trial_table(study, trials, metric) if per_trial else paper_table(
            study, rows, metric, level, adjust)
        out[kind] = to_markdown(table) if kind == "markdown" else to_latex(table)
    return out


def submission_csv(labels: Sequence[int]) -> str:
    """Kaggle digit-recognizer submission: 'ImageId,Label' with ImageId counted from 1."""
    return "ImageId,Label\n" + "".join(f"{i},{y}\n" for i, y in enumerate(labels, start=1))
