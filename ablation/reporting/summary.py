"""Summary rows: a study's complete trials grouped by configuration, every recorded metric
summarised over seeds (in display units: accuracies in percent), compared with the baseline on one
metric and ranked. Pure functions over TrialRecords."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ablation.analysis.metrics import METRICS
from ablation.analysis.records import TrialRecord
from ablation.analysis.stats import Comparison, Summary, adjust_family, compare, rank_groups
from ablation.analysis.stats import summarize as summarize_values


@dataclass(frozen=True)
class SummaryRow:
    """One configuration (axis value) of a study, summarised over its seeds."""

    axis: str
    label: str
    is_baseline: bool
    n: int
    stats: dict[str, Summary]  # every metric a member recorded, in display units
    samples: dict[str, dict[int, float]] = field(default_factory=dict)  # metric -> seed -> value

    @property
    def shown_label(self) -> str:
        """The row's value as tables show it (the baseline's value marked)."""
        if self.is_baseline and self.label != "baseline":
            return f"{self.label} (baseline)"
        return self.label


def recorded_metrics(trials: Sequence[TrialRecord]) -> list[str]:
    """Registered metrics that at least one complete trial recorded, in registry order."""
    seen = {m for t in trials if t.state == "complete" for m in t.metrics}
    return [m for m in METRICS if m in seen]


def summary_rows(trials: Sequence[TrialRecord]) -> list[SummaryRow]:
    """Group complete trials by (axis, value) in first-seen order and summarise each metric."""
    groups: dict[tuple[str, str], list[TrialRecord]] = {}
    for t in sorted(trials, key=lambda t: t.number):
        if t.state == "complete":
            groups.setdefault((t.axis, t.label), []).append(t)
    metrics = recorded_metrics(trials)
    rows = []
    for (axis, label), members in groups.items():
        samples = {m: {t.seed: METRICS.get(m).shown(t.metrics[m]) for t in members
                       if m in t.metrics} for m in metrics}
        stats = {m: summarize_values([METRICS.get(m).shown(t.metrics[m]) for t in members
                                      if m in t.metrics]) for m in metrics}
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

    @property
    def verdict_text(self) -> str:
        """The verdict with the note that qualifies it ('untested (n<2)')."""
        note = self.comparison.note if self.comparison else ""
        return f"{self.verdict} ({note})" if note else self.verdict or "—"


def compare_rows(rows: Sequence[SummaryRow], metric: str = "test_accuracy",
                 level: float = 0.05, adjust: str = "none") -> list[ComparedRow]:
    """Compare every row with the baseline row on ``metric`` and rank them with ties.

    See :func:`ablation.analysis.stats.compare` (paired test when the seeds match, else Welch)
    and :func:`ablation.analysis.stats.rank_groups` (rank 1 = not distinguishable from the
    best). Every comparison carries its Holm-adjusted p over the study's comparisons with the
    baseline; with ``adjust="holm"`` the verdicts use it. The metric's direction comes from the
    METRICS registry.
    """
    up = METRICS.get(metric).higher_is_better
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
