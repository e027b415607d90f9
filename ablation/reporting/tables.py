"""Summary rows in the shape of the seed papers' tables. Pure functions over TrialRecords."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from ablation.results import TABLE_METRICS, TrialRecord
from ablation.stats import Summary, summarize

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
        stats = {m: summarize([_scale(m, t.metrics[m]) for t in members if m in t.metrics])
                 for m in SUMMARY_METRICS}
        rows.append(SummaryRow(axis, label, members[0].is_baseline, len(members), stats))
    return rows


def summary_csv(study: str, rows: Sequence[SummaryRow]) -> str:
    """CSV text: one row per configuration with n, mean and std (and 95% CI) of each metric."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    head = ["study", "axis", "value", "baseline", "n"]
    for m in SUMMARY_METRICS:
        head += [f"{m}_mean", f"{m}_std", f"{m}_ci95_low", f"{m}_ci95_high"]
    w.writerow(head)
    for r in rows:
        line: list[object] = [study, r.axis, r.label, r.is_baseline, r.n]
        for m in SUMMARY_METRICS:
            s = r.stats[m]
            line += [_num(s.mean), _num(s.std), _num(s.ci_low), _num(s.ci_high)]
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


def fmt_mean_std(s: Summary, digits: int = 2) -> str:
    """'mean ± std' (or just the mean when n = 1)."""
    if s.n == 0:
        return "-"
    if s.std != s.std:
        return f"{s.mean:.{digits}f}"
    return f"{s.mean:.{digits}f} ± {s.std:.{digits}f}"
