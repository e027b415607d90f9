"""Chart rows: pure functions from stored results to the numbers each chart draws.

No plotting and no I/O here, so every number on a chart can be tested on fixed inputs;
html.py only turns these rows into figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ablation.analysis.metrics import METRICS
from ablation.analysis.pareto import pareto_front as front_indices
from ablation.analysis.records import TrialRecord, cell_name
from ablation.reporting.summary import SummaryRow

CURVE_METRICS = ("train_loss", "val_loss", "train_accuracy", "val_accuracy")


@dataclass(frozen=True)
class Bar:
    """One bar: a configuration's mean and the 95% t-interval of the mean, clipped to the
    metric's range (NaN when n < 2)."""

    label: str
    mean: float
    ci_low: float
    ci_high: float
    n: int
    is_baseline: bool

    @property
    def err_plus(self) -> float:
        """Distance from the mean up to the CI's top (0 where there is no CI)."""
        return 0.0 if math.isnan(self.ci_high) else self.ci_high - self.mean

    @property
    def err_minus(self) -> float:
        """Distance from the mean down to the CI's bottom (0 where there is no CI)."""
        return 0.0 if math.isnan(self.ci_low) else self.mean - self.ci_low


def bar_rows(rows: Sequence[SummaryRow], metric: str = "test_accuracy") -> dict[str, list[Bar]]:
    """Bars per axis, in table order; the baseline row is drawn in every axis it belongs to.

    In a one-at-a-time study the baseline is its own group ("baseline"); it is put in front of
    every other axis so each chart compares against it.
    """
    baseline = [r for r in rows if r.is_baseline]
    out: dict[str, list[Bar]] = {}
    for r in rows:
        if r.is_baseline and r.axis == "baseline":
            continue
        out.setdefault(r.axis, [])
        s = r.stats[metric]
        out[r.axis].append(Bar(r.label, s.mean, s.t_ci.low, s.t_ci.high, s.n, r.is_baseline))
    for axis, bars in out.items():
        if not any(b.is_baseline for b in bars):
            for r in baseline:
                s = r.stats[metric]
                bars.insert(0, Bar(r.label, s.mean, s.t_ci.low, s.t_ci.high, s.n, True))
        out[axis] = bars
    return out


@dataclass(frozen=True)
class Curve:
    """One configuration's learning curve for one metric: mean and mean ± std over seeds."""

    axis: str
    label: str
    metric: str
    epochs: tuple[int, ...]
    mean: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    n: tuple[int, ...]  # seeds that reached each epoch


def curve_rows(trials: Sequence[TrialRecord], epochs: Sequence[Mapping[str, Any]],
               metric: str) -> list[Curve]:
    """Learning curves of ``metric`` per configuration (complete trials only), in table order.

    The band is mean ± one sample std over seeds, clipped to the range the seeds span (so a loss
    band never dips below zero on a log axis; zero width for a single seed); accuracies are in
    percent as in the tables.
    """
    scale = 100.0 if metric.endswith("accuracy") else 1.0
    by_trial: dict[int, dict[int, float]] = {}
    for e in epochs:
        value = e.get(metric)
        if value is not None:
            by_trial.setdefault(int(e["trial_number"]), {})[int(e["epoch"])] = float(value)
    groups: dict[tuple[str, str], list[int]] = {}
    for t in sorted(trials, key=lambda t: t.number):
        if t.state == "complete" and t.number in by_trial:
            groups.setdefault((t.axis, t.label), []).append(t.number)
    out = []
    for (axis, label), numbers in groups.items():
        steps = sorted({ep for n in numbers for ep in by_trial[n]})
        means, lows, highs, ns = [], [], [], []
        for ep in steps:
            values = [by_trial[n][ep] * scale for n in numbers if ep in by_trial[n]]
            mean = sum(values) / len(values)
            spread = (math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
                      if len(values) > 1 else 0.0)
            means.append(mean)
            lows.append(max(mean - spread, min(values)))
            highs.append(min(mean + spread, max(values)))
            ns.append(len(values))
        out.append(Curve(axis, label, metric, tuple(steps), tuple(means), tuple(lows),
                         tuple(highs), tuple(ns)))
    return out


@dataclass(frozen=True)
class TrialPoint:
    """One complete trial as a point of a scatter plot."""

    number: int
    label: str
    x: float
    y: float


def scatter_rows(trials: Sequence[TrialRecord], x_metric: str,
                 y_metric: str = "test_accuracy") -> list[TrialPoint]:
    """Complete trials that carry both metrics; accuracies in percent."""
    out = []
    for t in sorted(trials, key=lambda t: t.number):
        if t.state == "complete" and x_metric in t.metrics and y_metric in t.metrics:
            x, y = t.metrics[x_metric], t.metrics[y_metric]
            if not (math.isnan(x) or math.isnan(y)):
                out.append(TrialPoint(t.number, _name(t), _pct(x_metric, x), _pct(y_metric, y)))
    return out


def _name(t: TrialRecord) -> str:
    return cell_name(t.axis, t.label)


def _pct(metric: str, value: float) -> float:
    return METRICS.get(metric).shown(value)


def pareto_front(points: Sequence[TrialPoint]) -> list[TrialPoint]:
    """Points no other point beats (x = bytes down, y = accuracy up; analysis.pareto decides),
    by increasing x, so the front reads left to right."""
    chosen = front_indices([(p.y, p.x) for p in points])
    return sorted((points[i] for i in chosen), key=lambda p: (p.x, -p.y, p.number))


def confusion_rows(matrix: Sequence[Sequence[int]]) -> list[list[float]]:
    """Each true-class row as percentages of that class (an empty class stays all zero)."""
    out = []
    for row in matrix:
        total = sum(row)
        out.append([100.0 * v / total if total else 0.0 for v in row])
    return out
