"""Simulated error rates of the --until-resolved stopping rule (docs/statistics.md).

Usage: python benchmarks/sim_sequential.py [--sims 100000] [--seed 2024]

Prints two Markdown tables. Under the null (every cell equal to the baseline) the family-wise
false-positive rate of: the rule with its two designs (Haybittle-Peto, the default, and equal
Bonferroni over looks), naive optional stopping (each round re-tested at level / cells) and one
fixed test after all seeds; all on the same seeded draws. Then, for one cell truly better by
`shift` standard deviations, how often each finds it and how many seeds a cell used on
average. Pure numpy/scipy: no timing involved.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ablation.analysis.seeds.sequential import (  # noqa: E402
    BONFERRONI,
    HAYBITTLE_PETO,
    UNADJUSTED,
    planned_looks,
)
from ablation.analysis.seeds.sequential_sim import CALLED, draw_studies, run_rule  # noqa: E402
from benchmarks._common import loadavg  # noqa: E402

SCHEDULES = ((3, 10, 2), (3, 10, 7), (5, 20, 5))  # (start, max seeds, seeds per round)
LEVEL = 0.05


def _rates(seed: int, sims: int, cells: int, schedule: tuple[int, int, int], noise: str,
           shift: float) -> dict[str, tuple[float, float, float, float]]:
    """Design -> (rate, CI low, CI high, mean seeds per cell), on one set of draws."""
    looks = planned_looks(*schedule)
    base, cell = draw_studies(seed, sims, cells, schedule[1], noise=noise, shift=shift)
    runs = {design: run_rule(base, cell, looks, LEVEL, design)
            for design in (HAYBITTLE_PETO, BONFERRONI, UNADJUSTED)}
    runs["fixed"] = run_rule(base, cell, [schedule[1]], LEVEL, BONFERRONI)  # one look
    out = {}
    for name, (state, stopped) in runs.items():
        k = int((state == CALLED).any(axis=1).sum())
        ci = st.binomtest(k, sims).proportion_ci(0.95, method="exact")
        out[name] = (k / sims, float(ci.low), float(ci.high), float(np.mean(stopped)))
    return out


def _row(label: str, rates: dict[str, tuple[float, float, float, float]]) -> str:
    cells = [f"{r:.4f} [{lo:.4f}, {hi:.4f}], {n:.2f} seeds" for r, lo, hi, n in rates.values()]
    return f"| {label} | " + " | ".join(cells) + " |"


def main() -> None:
    """Print the null and the alternative tables."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--sims", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args()
    start = time.perf_counter()
    head = ("| setting | rule: haybittle-peto (default) | rule: bonferroni | naive (level every "
            "round) | one test at max seeds |\n|---|---|---|---|---|")
    print(f"### Under the null: family-wise false-positive rate (level {LEVEL}), "
          f"{args.sims:,} simulated studies each, seed {args.seed}\n\n{head}")
    for noise in ("normal", "heavy"):
        for cells in (1, 7):
            for sch in SCHEDULES:
                label = (f"{noise}, {cells} cell(s), looks at "
                         f"{'/'.join(map(str, planned_looks(*sch)))} seeds")
                print(_row(label, _rates(args.seed, args.sims, cells, sch, noise, 0.0)))
    print(f"\n### One cell truly better by `shift` sds: share of studies that find it\n\n{head}")
    for shift in (0.5, 1.0, 1.5):
        for sch in SCHEDULES:
            label = f"shift {shift}, normal, looks at {'/'.join(map(str, planned_looks(*sch)))}"
            print(_row(label, _rates(args.seed, args.sims, 1, sch, "normal", shift)))
    print(f"\n{time.perf_counter() - start:.0f} s; load average {loadavg()}")


if __name__ == "__main__":
    main()
