"""``ablate plan``: the seeds each cell needs to detect a given difference with 80% power, from
the variances a study has observed (Colas et al. 2018), and McNemar's test between two trials
as ``ablate compare`` prints it. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ablation.analysis.evalnoise import McNemar
from ablation.analysis.metrics import METRICS
from ablation.analysis.power import (
    MAX_SEEDS,
    MIN_PILOT,
    SD_CONFIDENCE,
    SeedsNeeded,
    seeds_needed,
)
from ablation.analysis.records import TrialRecord, cell_name
from ablation.analysis.stats import BETTER, WORSE
from ablation.analysis.verdicts import NONE, judge_cells
from ablation.reporting.summary import SummaryRow
from ablation.reporting.text import TextTable


@dataclass(frozen=True)
class Plan:
    """Seeds needed per compared row (None for the baseline), the per-comparison alpha, and
    each row's verdict now (at the level, under the adjustment)."""

    needed: tuple[SeedsNeeded | None, ...]
    alpha: float
    comparisons: int
    verdicts: tuple[str, ...] = ()

    @property
    def seeds(self) -> int | None:
        """Seeds per cell for every comparison still open (not yet better/worse) to reach the
        power; None when one of them cannot say; 0 when none is open."""
        open_ = [s for s, v in zip(self.needed, self.verdicts or ("",) * len(self.needed),
                                   strict=True)
                 if s is not None and v not in (BETTER, WORSE)]
        if any(s.n is None for s in open_):
            return None
        return max((s.n for s in open_ if s.n is not None), default=0)


def plan_seeds(rows: Sequence[SummaryRow], metric: str, detect: float, level: float = 0.05,
               adjust: str = "holm", power: float = 0.8) -> Plan:
    """``power.seeds_needed`` for every row against the baseline; with an adjustment over m
    comparisons alpha = level / m (Holm's first step: conservative for every step)."""
    base = next((r for r in rows if r.is_baseline), None)
    ref = base.samples.get(metric, {}) if base else {}
    compared = [r for r in rows if r is not base]
    m = max(1, len(compared))
    alpha = level if adjust == NONE else level / m
    needed = tuple(None if r is base or base is None else
                   seeds_needed(r.samples.get(metric, {}), ref, abs(detect), alpha, power)
                   for r in rows)
    cells = [r.samples.get(metric, {}) for r in rows]
    judged = judge_cells(cells, rows.index(base) if base else None,
                         METRICS.get(metric).higher_is_better, level, adjust)
    verdicts = tuple("baseline" if d is None else d.verdict for d in judged.decisions)
    return Plan(needed, alpha, len(compared), verdicts)


def _n_text(s: SeedsNeeded) -> str:
    if s.n is not None:
        return str(s.n)
    return f"unknown (n<{MIN_PILOT})" if s.sd != s.sd else f"> {MAX_SEEDS:,}"


def _sd_text(s: SeedsNeeded) -> str:
    if s.sd != s.sd:
        return "—"
    if s.sd_planned != s.sd_planned or s.sd_planned == s.sd:
        return f"{s.sd:.3f}"
    return f"{s.sd:.3f} → {s.sd_planned:.3f}"


def plan_table(study: str, rows: Sequence[SummaryRow], metric: str, detect: float,
               level: float = 0.05, adjust: str = "holm", power: float = 0.8) -> TextTable:
    """Per configuration: seeds now, the test, the observed spread, the seeds needed, the
    power there and how many seeds to add."""
    info = METRICS.get(metric)
    plan = plan_seeds(rows, metric, detect, level, adjust, power)
    body = []
    for r, s, v in zip(rows, plan.needed, plan.verdicts, strict=True):
        if s is None:
            body.append((r.shown_label, str(r.n), v, "—", "—", "—", "—", "—"))
            continue
        add = "—" if s.n is None else str(max(0, s.n - r.n))
        body.append((r.shown_label, str(r.n), v, s.test, _sd_text(s), _n_text(s),
                     "—" if s.power != s.power else f"{s.power:.2f}", add))
    unit = "points" if info.percent else info.unit or "units"
    how = ("no adjustment" if adjust == NONE else
           f"{adjust} over {plan.comparisons} comparisons: α = {level:g}/{plan.comparisons} = "
           f"{plan.alpha:.4f} per comparison (Holm's first step, conservative for Holm and "
           "Dunnett)")
    notes = (f"Seeds per cell for a two-sided test to find a true difference of {abs(detect):g} "
             f"{unit} of {info.label} with {power:.0%} power ({how}). sd: of the paired "
             "differences over shared seeds (paired test), else sqrt((sd_cell² + sd_base²)/2) "
             "(Welch); observed → assumed. An sd from few seeds is itself uncertain, so the plan "
             f"assumes its one-sided {SD_CONFIDENCE:.0%} upper confidence bound (chi-square, "
             "the seeds' degrees of freedom): measured, plans made so deliver at least the "
             "power on average, where the observed sd alone delivers about 2/3 from 3 seeds "
             "(Colas et al. 2018; docs/statistics.md).",)
    header = ("value", "seeds now", "verdict now", "test", f"sd ({unit})", "seeds needed",
              "power there", "seeds to add")
    return TextTable(f"{study}: seeds needed", header, tuple(body), notes,
                     (False, True, False, False, True, True, True, True))


def plan_advice(study: str, plan: Plan, now: int) -> str:
    """The command that adds the seeds the plan asks for (or why there is none)."""
    if plan.seeds is None:
        return ("Some open cells cannot be planned (fewer than 2 seeds, or more than "
                f"{MAX_SEEDS:,} needed); run more seeds first.")
    if plan.seeds == 0:
        return ("Every cell is already told apart from the baseline at these seeds: more "
                "seeds would only narrow the intervals.")
    if plan.seeds <= now:
        return f"Every open cell already has the {plan.seeds} seeds the plan asks for."
    return (f"The cells still open (not better/worse now) reach the power at {plan.seeds} "
            "seeds per cell: "
            f"`ablate run {study} --seeds {plan.seeds}` adds the missing ones to the stored "
            "study (existing trials are never re-run); or `--until-resolved --max-seeds "
            f"{plan.seeds}` adds them in rounds only to cells still open.")


def mcnemar_table(study: str, a: TrialRecord, b: TrialRecord, result: McNemar) -> TextTable:
    """McNemar's exact test between two trials on the same test examples."""
    n = result.both + result.only_a + result.only_b + result.neither

    def who(t: TrialRecord) -> str:
        return f"trial {t.number} ({cell_name(t.axis, t.label)}, seed {t.seed})"

    rows = ((f"{who(a)} right", str(result.both), str(result.only_a)),
            (f"{who(a)} wrong", str(result.only_b), str(result.neither)))
    p = "<0.001" if result.p < 0.001 else f"{result.p:.3f}"
    notes = (f"{n:,} test examples; accuracy {100 * (result.both + result.only_a) / n:.2f}% "
             f"vs {100 * (result.both + result.only_b) / n:.2f}%. McNemar's exact test on the "
             f"{result.only_a + result.only_b} discordant examples: p = {p} (two-sided). It "
             "compares these two trained models on this test set, not the two configurations: "
             "that is what the seeds and `ablate show` are for.",)
    return TextTable(f"{study}: McNemar", ("", f"{who(b)} right", f"{who(b)} wrong"), rows,
                     notes, (False, True, True))
