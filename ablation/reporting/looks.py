"""The verdicts of ``run --until-resolved`` as tables show them: each cell's last recorded look
(``ablate_looks``) turned into a Decision whose adjusted p is the rule's, so the table states the
sequential rule's verdict and never a fresh fixed-level test on the final seeds (which would
re-inflate the false positives the rule keeps out; docs/statistics.md). Pure functions."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ablation.analysis.seeds.sequential import CONTINUE
from ablation.analysis.verdicts import Decision
from ablation.reporting.summary import SummaryRow

SEQUENTIAL = "sequential"
OPEN = "open"  # the rounds stopped (interrupted, --max-trials) before the cell was decided


def rule_p_adj(p: float, threshold: float, level: float) -> float:
    """p on the verdict's scale: p x level / threshold (capped at 1), so that p_adj < level
    exactly when the test beat the look's threshold."""
    if math.isnan(p) or threshold <= 0:
        return math.nan
    return min(1.0, p * level / threshold)


def _decision(rec: Mapping[str, Any], n_ref: int) -> Decision:
    outcome = str(rec["outcome"])
    verdict = OPEN if outcome == CONTINUE else outcome
    p = math.nan if rec["p"] is None else float(rec["p"])
    diff = math.nan if rec["diff"] is None else float(rec["diff"])
    note = f"look {rec['look']}/{rec['looks']}"
    return Decision(diff, str(rec["test"]), int(rec["n"]), n_ref, p,
                    rule_p_adj(p, float(rec["threshold"]), float(rec["level"])), SEQUENTIAL,
                    float(rec["level"]), verdict, note)


def sequential_decisions(rows: Sequence[SummaryRow], looks: Sequence[Mapping[str, Any]],
                         metric: str) -> list[Decision | None] | None:
    """One Decision per row (None for the baseline) from each cell's last recorded look, or
    None when no look was recorded on ``metric`` (then the fixed tests decide)."""
    mine = [r for r in looks if r["metric"] == metric]
    if not mine:
        return None
    last: dict[tuple[str, str], Mapping[str, Any]] = {}
    for rec in sorted(mine, key=lambda r: int(r["look"])):
        last[(str(rec["axis"]), str(rec["label"]))] = rec
    base = next((r for r in rows if r.is_baseline), None)
    n_ref = base.n if base is not None else 0
    out: list[Decision | None] = []
    for r in rows:
        found = last.get((r.axis, r.label))
        out.append(None if r.is_baseline or found is None else _decision(found, n_ref))
    return out


def looks_note(looks: Sequence[Mapping[str, Any]], metric: str) -> str:
    """One sentence on the rounds behind sequential verdicts ('' when there were none)."""
    mine = [r for r in looks if r["metric"] == metric]
    if not mine:
        return ""
    first = mine[0]
    done = max(int(r["look"]) for r in mine)
    seeds = sorted({(int(r["look"]), int(r["seeds"])) for r in mine})
    return (f"Verdicts from run --until-resolved ({first['design']}, level {first['level']:g} "
            f"shared by {first['cells']} cells; looks made: {done} of {first['looks']}, at "
            f"{'/'.join(str(s) for _, s in seeds)} seeds): a cell is decided at the first look "
            "whose threshold its test beats; open cells were still undecided when the rounds "
            "stopped.")
