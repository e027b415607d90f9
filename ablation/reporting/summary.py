"""Summary rows: a study's complete trials grouped by configuration, every recorded metric
estimated over seeds (in display units: accuracies in percent; CIs clipped to the metric's
range), compared with the baseline on one metric (paired over shared seeds) and ranked.

Pure functions over TrialRecords, built on ``analysis/estimates``, ``contrasts`` and
``verdicts`` (docs/statistics.md). The verdicts come from the adjusted p of one family (the
comparisons with the baseline; Holm by default), or, after ``run --until-resolved``, from the
sequential rule's stored looks; ranks always follow the verdicts shown.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from ablation.analysis.contrasts import Contrast, contrast
from ablation.analysis.estimates import CellEstimate, estimate_cell, finite, iqm
from ablation.analysis.evalnoise import default_margin
from ablation.analysis.intervals import N_RESAMPLES, NO_INTERVAL, t_interval
from ablation.analysis.metrics import METRICS
from ablation.analysis.records import TrialRecord
from ablation.analysis.verdicts import HOLM, Decision, judge_cells, rank_cells

CI_LEVEL = 0.95  # every interval in the tables; --level is the tests' significance level
BOOT_SEED = 0  # every bootstrap is seeded: the same trials give the same table


@dataclass(frozen=True)
class SummaryRow:
    """One configuration (axis value) of a study, estimated over its seeds."""

    axis: str
    label: str
    is_baseline: bool
    n: int
    stats: dict[str, CellEstimate]  # every metric a member recorded, in display units
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


def light_estimate(values: Collection[float], bounds: tuple[float, float]) -> CellEstimate:
    """n, mean, std, clipped t interval and IQM, without the bootstrap (for metrics no table
    compares: sizes, epochs, inference times)."""
    x = finite(values)
    if x.size == 0:
        return CellEstimate(0, math.nan, math.nan, NO_INTERVAL, NO_INTERVAL, math.nan,
                            NO_INTERVAL, CI_LEVEL)
    std = float(x.std(ddof=1)) if x.size >= 2 else math.nan
    return CellEstimate(int(x.size), float(x.mean()), std, t_interval(x, CI_LEVEL, bounds),
                        NO_INTERVAL, iqm(x), NO_INTERVAL, CI_LEVEL)


def boot_metrics(metric: str | None = None) -> set[str]:
    """Metrics whose cells get the bootstrap interval: the table metrics and ``metric``."""
    return {m for m in METRICS if METRICS.get(m).in_table} | ({metric} if metric else set())


def summary_rows(trials: Sequence[TrialRecord], metric: str | None = None,
                 n_resamples: int = N_RESAMPLES) -> list[SummaryRow]:
    """Group complete trials by (axis, value) in first-seen order and estimate each metric:
    the bootstrap (seeded) for the table metrics and ``metric``, the t interval for all
    (``n_resamples=0``: no bootstrap at all, for callers that need only the values)."""
    groups: dict[tuple[str, str], list[TrialRecord]] = {}
    for t in sorted(trials, key=lambda t: t.number):
        if t.state == "complete":
            groups.setdefault((t.axis, t.label), []).append(t)
    metrics = recorded_metrics(trials)
    boot = boot_metrics(metric) if n_resamples else set()
    rows = []
    for (axis, label), members in groups.items():
        samples = {m: {t.seed: METRICS.get(m).shown(t.metrics[m]) for t in members
                       if m in t.metrics} for m in metrics}
        stats = {m: (estimate_cell(samples[m].values(), METRICS.get(m).bounds(), CI_LEVEL,
                                   BOOT_SEED, n_resamples) if m in boot
                     else light_estimate(samples[m].values(), METRICS.get(m).bounds()))
                 for m in metrics}
        rows.append(SummaryRow(axis, label, members[0].is_baseline, len(members), stats,
                               samples))
    return rows


@dataclass(frozen=True)
class Margin:
    """The equivalence margin of a table (display units; None: no equivalence verdicts) and
    where it came from, for the table's note."""

    value: float | None
    source: str  # "--margin", "the study file", "default: ...", or why there is none


NO_MARGIN = Margin(None, "none")


def accuracy_split(metric: str) -> str | None:
    """The split an accuracy (a percentage of a split's images) is counted on ('test' or
    'val'); None for other metrics."""
    info = METRICS.get(metric)
    return info.split if info.percent else None


def resolve_margin(rows: Sequence[SummaryRow], metric: str, given: float | None = None,
                   source: str = "--margin", sizes: Mapping[str, int] | None = None) -> Margin:
    """``given`` when set; else, for an accuracy, the default rule
    (:func:`ablation.analysis.evalnoise.default_margin`) at the baseline's mean on the split's
    ``sizes``; else no margin."""
    if given is not None:
        return Margin(given, source)
    split = accuracy_split(metric)
    n = (sizes or {}).get(split or "", 0)
    base = next((r for r in rows if r.is_baseline), None)
    if split is None or not n or base is None or metric not in base.stats:
        return Margin(None, "no --margin, and no default for this metric or without the "
                            "test set's size")
    value = default_margin(base.stats[metric].mean, int(n))
    if math.isnan(value):
        return Margin(None, "no baseline mean to set the default from")
    return Margin(value, f"default: the resolution of {n:,} {split} examples at the "
                         f"baseline's {base.stats[metric].mean:.2f}%")


@dataclass(frozen=True)
class ComparedRow:
    """A summary row with its decision and contrast against the baseline on one metric, and
    its rank. ``decision`` and ``contrast`` are None for the baseline itself and for every row
    of a study without a baseline."""

    row: SummaryRow
    decision: Decision | None
    contrast: Contrast | None
    rank: int | None  # None: unresolved (inconclusive, untested, open), not ranked

    @property
    def comparison(self) -> Decision | None:
        """The decision (the name callers written before issue 15 use)."""
        return self.decision

    @property
    def verdict(self) -> str:
        """better / worse / equivalent / inconclusive / untested / open, 'baseline', or ''."""
        if self.decision is not None:
            return self.decision.verdict
        return "baseline" if self.row.is_baseline else ""

    @property
    def verdict_text(self) -> str:
        """The verdict with the note that qualifies it ('untested (n<3)')."""
        note = self.decision.note if self.decision else ""
        return f"{self.verdict} ({note})" if note else self.verdict or "—"


def compare_rows(rows: Sequence[SummaryRow], metric: str = "test_accuracy",
                 level: float = 0.05, adjust: str = HOLM,
                 sequential: Sequence[Decision | None] | None = None,
                 n_resamples: int = N_RESAMPLES,
                 margin: float | None = None) -> list[ComparedRow]:
    """Compare every row with the baseline row on ``metric``, and rank them.

    Decisions: :func:`ablation.analysis.verdicts.judge_cells` (paired t-test over shared seeds,
    else Welch; Holm, Dunnett or no adjustment; equivalent within ``margin``, in display
    units), or ``sequential`` (one Decision per row, None
    for the baseline: the verdicts the ``--until-resolved`` rule reached, see
    ``reporting/looks.py``). Ranks follow whichever verdicts are shown. Contrasts (Δ with t and
    bootstrap CIs, P(improvement), effect size) are per comparison at 95%; the direction and
    the range come from the METRICS registry.
    """
    info = METRICS.get(metric)
    cells = [r.samples.get(metric, {}) for r in rows]
    base = next((i for i, r in enumerate(rows) if r.is_baseline), None)
    if sequential is None:
        judged = judge_cells(cells, base, info.higher_is_better, level, adjust, BOOT_SEED,
                             margin)
        decisions, ranks = list(judged.decisions), judged.ranks
    else:
        decisions = list(sequential)
        verdicts = [d.verdict if d else None for d in decisions]
        ranks = rank_cells(cells, base, verdicts, info.higher_is_better, level, adjust,
                           BOOT_SEED)
    out = []
    for i, r in enumerate(rows):
        c = None
        if base is not None and i != base and cells[i] and cells[base]:
            c = contrast(cells[i], cells[base], info.higher_is_better, info.bounds(),
                         CI_LEVEL, BOOT_SEED, n_resamples)
        out.append(ComparedRow(r, decisions[i] if i != base else None, c, ranks[i]))
    return out


def _not_done(points: Mapping[str, int]) -> list[str]:
    return [f"{points[s]} {s}" for s in ("pending", "running", "failed") if points.get(s)]


def points_text(points: Mapping[str, int]) -> str:
    """'; 3 of 24 points not done: 2 pending, 1 failed' (or '' when every point is done)."""
    left = _not_done(points)
    if not left:
        return ""
    total = sum(points.values())
    return f"; {total - points.get('done', 0)} of {total} points not done: {', '.join(left)}"


def point_status(points: Mapping[str, int]) -> str:
    """One line on the study's points for ``show``: all done, or what is pending/failed."""
    total = sum(points.values())
    if not total:
        return "No points registered for this study (it was not run by `ablate run`)."
    left = _not_done(points)
    if not left:
        return f"All {total} points done."
    return (f"{points.get('done', 0)} of {total} points done; {', '.join(left)}: the table "
            "covers the done ones only. Run the same command again to run the rest (a failed "
            "point is retried up to 3 times).")


# "Within a few points of chance": a baseline this close to always guessing the largest class
# did not learn, and verdicts between such models compare noise around chance.
CHANCE_MARGIN = 0.10


def chance_warning(trials: Sequence[TrialRecord], chance: float | None) -> str | None:
    """One warning line when the baseline's mean test accuracy is within CHANCE_MARGIN of
    chance level, else None."""
    scores = [t.metrics["test_accuracy"] for t in trials if t.is_baseline and t.state == "complete"
              and "test_accuracy" in t.metrics]
    if chance is None or not scores:
        return None
    mean = sum(scores) / len(scores)
    if mean > chance + CHANCE_MARGIN:
        return None
    return (f"warning: the baseline's test accuracy ({100 * mean:.2f}%) is within "
            f"{100 * CHANCE_MARGIN:.0f} points of chance ({100 * chance:.2f}%, always guessing "
            "the largest class): the models did not learn, so the verdicts below compare "
            "untrained models; train longer (--epochs) or on more data")
