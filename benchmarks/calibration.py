"""Calibration of every printed statistic, on simulated studies with known truth (issue 19).

Usage: python benchmarks/calibration.py [--quick] [--sims N] [--seed 2024]

A simulated study is a baseline and ``cells`` cells over seeds. A run's accuracy is
``Binomial(N, p_run) / N`` in percent: ``p_run = p + shift + tau * z``, z a standard normal
per run (training noise), and the count over N test examples adds the test set's own noise
(Jordan 2023). ``tau`` is set so that a run's total sd is ``seed_sd`` points (the issue's audit:
0.15 points on N = 10,000 at 99%); "k sd" shifts are k x seed_sd. ``noisy`` runs one cell with
3x the training noise (unequal spreads, where Dunnett's pooled variance is wrong).

Everything is decided by the functions the CLI calls, never by copies: ``estimate_cell`` and
``contrast`` (the intervals of ``show``/``export``), ``judge_cells`` (the verdicts of a
fixed-seed run under each ``--adjust``), ``sequential_decision`` at every look (the rule of
``run --until-resolved`` and of ``run``'s default rounds), ``summary_rows`` + ``plan_seeds``
(``ablate plan``). Only the drawing of values is vectorised.

``--quick`` checks the issue's targets on fewer simulations (with a tolerance of two Monte
Carlo standard errors, which it prints) and exits 1 when one is missed; the full run prints the
tables in docs/statistics.md.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ablation.analysis.contrasts import contrast  # noqa: E402
from ablation.analysis.estimates import estimate_cell  # noqa: E402
from ablation.analysis.evalnoise import default_margin  # noqa: E402
from ablation.analysis.records import TrialRecord  # noqa: E402
from ablation.analysis.seeds.sequential import (  # noqa: E402
    CONTINUE,
    DEFAULT_MAX_SEEDS,
    DEFAULT_ROUND_SEEDS,
    MIN_START,
    planned_looks,
    sequential_decision,
)
from ablation.analysis.stats import BETTER, EQUIVALENT, WORSE  # noqa: E402
from ablation.analysis.verdicts import DUNNETT, HOLM, NONE, compare_many  # noqa: E402
from ablation.reporting.plan import plan_seeds  # noqa: E402
from ablation.reporting.summary import BOOT_SEED, CI_LEVEL, summary_rows  # noqa: E402

METRIC = "test_accuracy"
BOUNDS = (0.0, 100.0)
LEVEL = 0.05
ADJUSTS = (HOLM, DUNNETT, NONE)
SHIFTS = (0.0, 1.0, 2.0, 3.0)  # true differences, in a run's sd
Cells = list[dict[int, float]]  # index 0: the baseline


@dataclass(frozen=True)
class World:
    """The simulated truth: test-set size, accuracy, a run's sd (points), cells, spreads."""

    n_test: int = 10_000
    accuracy: float = 99.0  # percent
    seed_sd: float = 0.15  # points: a run's total sd (training + test-set noise)
    cells: int = 7  # compared with the baseline (the optimizer study: 7)
    noisy: bool = False  # the last cell has 3x the training noise

    @property
    def tau(self) -> float:
        """Training-noise sd (points) that makes the total seed_sd with the binomial term."""
        p = self.accuracy / 100
        binom = 100 * math.sqrt(p * (1 - p) / self.n_test)
        return math.sqrt(max(self.seed_sd**2 - binom**2, 0.0))

    @property
    def margin(self) -> float:
        """The default equivalence margin of this study (``evalnoise.default_margin``)."""
        return default_margin(self.accuracy, self.n_test)


def draw(rng: np.random.Generator, world: World, sims: int, seeds: int,
         shift_sd: float) -> np.ndarray:
    """Accuracies in percent, sims x (1 + cells) x seeds; every cell shifted by shift_sd."""
    k = world.cells + 1
    tau = np.full(k, world.tau)
    if world.noisy:
        tau[-1] *= 3
    shift = np.r_[0.0, np.full(world.cells, shift_sd * world.seed_sd)]
    p = (world.accuracy + shift[None, :, None]
         + tau[None, :, None] * rng.standard_normal((sims, k, seeds))) / 100
    return 100 * rng.binomial(world.n_test, np.clip(p, 0, 1)) / world.n_test


def as_cells(values: np.ndarray) -> Cells:
    """One study's array (1 + cells) x seeds as the seed -> value maps the CLI compares."""
    return [dict(enumerate(row.tolist())) for row in values]


def rate(hits: float, n: int) -> str:
    """'0.047 (±0.005)': a share with its Monte Carlo standard error."""
    p = hits / n if n else math.nan
    return f"{p:.3f} (±{math.sqrt(max(p * (1 - p), 1e-12) / n):.3f})" if n else "—"


# --- coverage of every printed interval ---------------------------------------------------

def true_p_improvement(world: World, shift_sd: float, rng: np.random.Generator) -> float:
    """P(a run of the shifted cell beats a baseline run), ties 1/2, by 400,000 draws."""
    one = replace(world, cells=1, noisy=False)
    v = draw(rng, one, 400_000, 1, shift_sd)[:, :, 0]
    return float(np.mean((v[:, 1] > v[:, 0]) + 0.5 * (v[:, 1] == v[:, 0])))


def coverage(world: World, sims: int, n: int, shift_sd: float, theta: float,
             rng: np.random.Generator, n_resamples: int) -> dict[str, tuple[int, int]]:
    """Interval name -> (covered, shown) over ``sims`` studies of one cell and the baseline."""
    one = replace(world, cells=1, noisy=False)
    values = draw(rng, one, sims, n, shift_sd)
    truth_mean, truth_diff = world.accuracy, shift_sd * world.seed_sd
    out: dict[str, list[int]] = {}

    def count(name: str, low: float, high: float, truth: float) -> None:
        got = out.setdefault(name, [0, 0])
        if not (math.isnan(low) or math.isnan(high)):
            got[0] += int(low <= truth <= high)
            got[1] += 1

    for study in values:
        base, cell = as_cells(study)
        est = estimate_cell(base.values(), BOUNDS, CI_LEVEL, BOOT_SEED, n_resamples)
        count("mean, t", est.t_ci.low, est.t_ci.high, truth_mean)
        count("mean, bootstrap", est.boot_ci.low, est.boot_ci.high, truth_mean)
        c = contrast(cell, base, True, BOUNDS, CI_LEVEL, BOOT_SEED, n_resamples)
        count("Δ, t", c.t_ci.low, c.t_ci.high, truth_diff)
        count("Δ, bootstrap", c.boot_ci.low, c.boot_ci.high, truth_diff)
        count("P(improvement), exact", c.p_improve_ci.low, c.p_improve_ci.high, theta)
    return {k: (v[0], v[1]) for k, v in out.items()}


# --- fixed-seed verdicts (compare_many: the decisions judge_cells returns to the tables) -----

def fixed_verdicts(world: World, sims: int, n: int, shift_sd: float, adjust: str,
                   rng: np.random.Generator) -> list[list[str]]:
    """Every simulated study's verdicts (cells only) under ``adjust`` at n seeds: the baseline
    family ``judge_cells`` decides with ``compare_many`` (judge_cells adds ranks and the
    detectable difference, which change no verdict)."""
    out = []
    for study in draw(rng, world, sims, n, shift_sd):
        cells = as_cells(study)
        found = compare_many(cells[1:], cells[0], True, LEVEL, adjust, BOOT_SEED, world.margin)
        out.append([d.verdict for d in found])
    return out


# --- the sequential rule (run's default rounds, and --until-resolved) ----------------------

def sequential_verdicts(world: World, sims: int, looks: Sequence[int], shift_sd: float,
                        rng: np.random.Generator) -> tuple[list[list[str]], float]:
    """Every study's final outcomes under the rule (one call of ``sequential_decision`` per
    open cell and look, the level shared by the cells, as ``engine.rounds.decide_look``), and
    the mean seeds a cell ran."""
    out, used = [], []
    for study in draw(rng, world, sims, looks[-1], shift_sd):
        cells = as_cells(study)
        outcome = [CONTINUE] * world.cells
        seeds = [looks[-1]] * world.cells
        for k, n in enumerate(looks, start=1):
            base = {s: v for s, v in cells[0].items() if s < n}
            for i in (j for j in range(world.cells) if outcome[j] == CONTINUE):
                cell = {s: v for s, v in cells[i + 1].items() if s < n}
                d = sequential_decision(cell, base, k, len(looks), True, LEVEL, world.cells,
                                        margin=world.margin)
                outcome[i] = d.outcome
                seeds[i] = n if d.outcome != CONTINUE else seeds[i]
        out.append(outcome)
        used.extend(seeds)
    return out, float(np.mean(used))


def any_false(verdicts: list[list[str]]) -> int:
    """Studies with at least one better/worse verdict (false when every shift is 0)."""
    return sum(any(v in (BETTER, WORSE) for v in study) for study in verdicts)


def share(verdicts: list[list[str]], wanted: Sequence[str]) -> tuple[int, int]:
    """(cells with a verdict in ``wanted``, cells)."""
    flat = [v for study in verdicts for v in study]
    return sum(v in wanted for v in flat), len(flat)


# --- plan's delivered power ----------------------------------------------------------------

def records(values: np.ndarray, labels: Sequence[str]) -> list[TrialRecord]:
    """One study's values as stored trials (the baseline first), for summary_rows."""
    out: list[TrialRecord] = []
    for i, (label, row) in enumerate(zip(labels, values, strict=True)):
        for s, v in enumerate(row.tolist()):
            out.append(TrialRecord(len(out), "complete", "optimizer", label, s, {},
                                   {METRIC: v / 100}, v / 100, i == 0))
    return out


def plan_delivered(world: World, sims: int, pilot: int, shift_sd: float,
                   rng: np.random.Generator) -> tuple[int, int, float]:
    """(studies that found the first cell, studies planned, mean planned seeds): ``plan``
    from ``pilot`` seeds at --detect = the true shift, then the planned seeds (the pilot's
    kept) tested as ``plan`` assumes (alpha = level / cells, one comparison)."""
    labels = ["base", *(f"c{i}" for i in range(world.cells))]
    hits = planned = 0
    sizes = []
    detect = shift_sd * world.seed_sd
    for study in draw(rng, world, sims, pilot, shift_sd):
        rows = summary_rows(records(study, labels), METRIC, n_resamples=0)
        need = plan_seeds(rows, METRIC, detect, LEVEL, HOLM).needed[1]
        if need is None or need.n is None:
            continue
        n = max(need.n, pilot)
        more = draw(rng, replace(world, cells=1), 1, n - pilot, shift_sd)[0]
        base = {**as_cells(study)[0], **{pilot + s: v for s, v in enumerate(more[0])}}
        cell = {**as_cells(study)[1], **{pilot + s: v for s, v in enumerate(more[1])}}
        d = compare_many([cell], base, True, LEVEL / world.cells, NONE)[0]
        hits += d.verdict == BETTER
        planned += 1
        sizes.append(n)
    return hits, planned, float(np.mean(sizes)) if sizes else math.nan


# --- the report ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    """One target of issue 19: the measured share, the target and which side it must be on."""

    name: str
    hits: int
    n: int
    target: float
    at_least: bool  # True: share >= target; False: share <= target

    def passed(self) -> bool:
        """Within two Monte Carlo standard errors of the target's side."""
        p = self.hits / self.n if self.n else math.nan
        slack = 2 * math.sqrt(self.target * (1 - self.target) / max(self.n, 1))
        return p >= self.target - slack if self.at_least else p <= self.target + slack

    def line(self) -> str:
        """'ok   name: 0.047 (±0.005), target <= 0.05'."""
        side = ">=" if self.at_least else "<="
        return (f"{'ok  ' if self.passed() else 'MISS'} {self.name}: {rate(self.hits, self.n)}, "
                f"target {side} {self.target:g}")


def default_looks(start: int = MIN_START) -> list[int]:
    """The looks of ``run``'s default rounds from the study's 3 seeds."""
    return planned_looks(start, DEFAULT_MAX_SEEDS, DEFAULT_ROUND_SEEDS)


Say = Callable[[str], None]


def coverage_table(say: Say, world: World, sims: int, ns: Sequence[int],
                   rng: np.random.Generator, n_resamples: int) -> list[Check]:
    """Coverage of every interval at each seed count (one cell 1 sd above the baseline)."""
    theta = true_p_improvement(world, 1.0, rng)
    found = {n: coverage(world, sims, n, 1.0, theta, rng, n_resamples) for n in ns}
    names = list(found[ns[0]])
    say(f"\n### Coverage of the nominal 95% intervals ({sims:,} studies per seed count; "
        f"true Δ = 1 sd = {world.seed_sd:g} points, true P(improvement) = {theta:.3f})\n")
    say("| interval | " + " | ".join(f"{n} seeds" for n in ns) + " |")
    say("|---|" + "---|" * len(ns))
    checks = []
    for name in names:
        cells = [rate(*found[n][name]) if found[n][name][1] else "not shown" for n in ns]
        say(f"| {name} | " + " | ".join(cells) + " |")
        for n in ns:
            hit, shown = found[n][name]
            if shown and name.endswith(", t"):
                checks.append(Check(f"coverage {name} at {n} seeds >= 0.93", hit, shown,
                                    0.93, True))
            if shown and name.endswith("exact"):
                checks.append(Check(f"coverage {name} at {n} seeds >= 0.93", hit, shown,
                                    0.93, True))
    return checks


def fwer_table(say: Say, world: World, sims: int, ns: Sequence[int], adjusts: Sequence[str],
               rng: np.random.Generator, until_resolved: bool = True,
               rules: bool = True) -> list[Check]:
    """Family-wise error under the null for each adjustment and seed count, and the rules."""
    worlds = (("equal spreads", world), ("one cell 3x noisier", replace(world, noisy=True)))
    say(f"\n### Family-wise error under the null (all {world.cells} cells equal to the baseline; "
        f"{sims:,} studies each; share of studies with any better/worse)\n")
    say("| procedure | seeds | " + " | ".join(w for w, _ in worlds) + " |")
    say("|---|---|" + "---|" * len(worlds))
    checks = []
    for adjust in adjusts:
        for n in ns:
            got = [any_false(fixed_verdicts(w, sims, n, 0.0, adjust, rng)) for _, w in worlds]
            say(f"| fixed, --adjust {adjust} | {n} | "
                + " | ".join(rate(g, sims) for g in got) + " |")
            if adjust != NONE:
                checks += [Check(f"FWER {adjust}, {n} seeds, {w}", g, sims, LEVEL, False)
                           for (w, _), g in zip(worlds, got, strict=True)]
    schedules = [("run default", default_looks())] if rules else []
    if rules and until_resolved:
        schedules.append(("--until-resolved --max-seeds 10", planned_looks(3, 10, 2)))
    for label, looks in schedules:
        got = [any_false(sequential_verdicts(w, sims, looks, 0.0, rng)[0]) for _, w in worlds]
        seeds = "/".join(map(str, looks))
        say(f"| {label} | {seeds} | " + " | ".join(rate(g, sims) for g in got) + " |")
        checks += [Check(f"FWER {label}, {w}", g, sims, LEVEL, False)
                   for (w, _), g in zip(worlds, got, strict=True)]
    return checks


def power_table(say: Say, world: World, sims: int, ns: Sequence[int],
                rng: np.random.Generator, shifts: Sequence[float] = SHIFTS) -> list[Check]:
    """Per cell: verdicts at a true 0 (equivalent) and at 1, 2, 3 sd (better), fixed Holm
    and the default rounds."""
    say(f"\n### Power and equivalence per cell ({sims:,} studies of {world.cells} cells each; "
        f"default margin {world.margin:.3f} points = {world.margin / world.seed_sd:.2f} sd)\n")
    say("| procedure | seeds per cell (mean) | equivalent at 0 | better at 1 sd | better at 2 sd "
        "| better at 3 sd | false verdicts at 2 sd |")
    say("|---|---|---|---|---|---|---|")
    checks = []
    for n in ns:
        runs = {s: fixed_verdicts(world, sims, n, s, HOLM, rng) for s in shifts}
        say(_power_row(f"fixed, Holm, {n} seeds", str(n), runs))
    runs, used = {}, {}
    for s in shifts:
        runs[s], used[s] = sequential_verdicts(world, sims, default_looks(), s, rng)
    mean = "/".join(f"{used[s]:.1f}" for s in shifts)
    say(_power_row("run default (rounds " + "/".join(map(str, default_looks())) + ")",
                   f"{mean} at {'/'.join(f'{s:g}' for s in shifts)} sd", runs))
    checks.append(Check("default: equivalent at 0", *share(runs[0.0], (EQUIVALENT,)), 0.8,
                        True))
    checks.append(Check("default: better at 2 sd", *share(runs[2.0], (BETTER,)), 0.8, True))
    checks.append(Check("default: false verdicts at 2 sd", *share(runs[2.0],
                                                                  (WORSE, EQUIVALENT)),
                        LEVEL, False))
    return checks


def _power_row(label: str, seeds: str, runs: dict[float, list[list[str]]]) -> str:
    cells = [rate(*share(runs[0.0], (EQUIVALENT,)))]
    cells += [rate(*share(runs[s], (BETTER,))) if s in runs else "—" for s in SHIFTS[1:]]
    cells.append(rate(*share(runs[2.0], (WORSE, EQUIVALENT))))
    return f"| {label} | {seeds} | " + " | ".join(cells) + " |"


def plan_table(say: Say, world: World, sims: int, rng: np.random.Generator,
               pilots: Sequence[int] = (3, 5, 10)) -> list[Check]:
    """``plan``'s delivered power from 3-, 5- and 10-seed pilots at a true 2 sd."""
    say(f"\n### `plan`: power delivered at the planned seeds ({sims:,} pilots each; --detect = "
        f"the true 2 sd = {2 * world.seed_sd:g} points, target 0.8, α = {LEVEL}/{world.cells})\n")
    say("| pilot seeds | delivered power | mean planned seeds |")
    say("|---|---|---|")
    checks = []
    for pilot in pilots:
        hits, n, mean = plan_delivered(world, sims, pilot, 2.0, rng)
        say(f"| {pilot} | {rate(hits, n)} | {mean:.1f} |")
        checks.append(Check(f"plan delivers from {pilot} seeds", hits, n, 0.8, True))
    return checks


def _fwer_part(say: Say, world: World, sims: int, adjusts: Sequence[str],
               rng: np.random.Generator) -> Callable[[], list[Check]]:
    """One adjustment's rows of the FWER table (or, with none, the rules' rows) as a part."""
    return lambda: fwer_table(say, world, sims, (2, 3, 5, 10), adjusts, rng,
                              rules=not adjusts)


def main() -> None:
    """Print the calibration tables; with --quick, check the targets (exit 1 on a miss)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer simulations; check targets")
    ap.add_argument("--sims", type=int, default=None, help="studies per setting")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--only", default="coverage,fwer,power,plan",
                    help="tables of the full run, comma-separated (each part seeded alike, so "
                    "parts can run as separate processes)")
    args = ap.parse_args()
    sims = args.sims or (300 if args.quick else 4000)
    rng = np.random.default_rng(args.seed)
    world = World()
    start = time.perf_counter()
    say = print
    say(f"## Calibration (seed {args.seed}; N = {world.n_test:,} test examples at "
        f"{world.accuracy:g}%, a run's sd {world.seed_sd:g} points of which training noise "
        f"{world.tau:.3f}; {world.cells} cells; level {LEVEL})")
    if args.quick:  # the targets only, on fewer draws
        checks = coverage_table(say, world, sims // 2, (3, 10), rng, 999)
        checks += fwer_table(say, world, sims, (3, 5), (HOLM, DUNNETT), rng, False)
        checks += power_table(say, world, sims, (), rng, (0.0, 2.0))
        checks += plan_table(say, world, sims // 2, rng, (3,))
    else:
        parts = {"coverage": lambda: coverage_table(say, world, sims, (2, 3, 5, 10), rng, 9999),
                 "fwer": lambda: fwer_table(say, world, sims, (2, 3, 5, 10), ADJUSTS, rng),
                 **{f"fwer-{a}": _fwer_part(say, world, sims, (a,), rng) for a in ADJUSTS},
                 "fwer-rules": _fwer_part(say, world, sims, (), rng),
                 "power": lambda: power_table(say, world, sims, (3, 5, 10), rng),
                 "power-default": lambda: power_table(say, world, sims, (), rng),
                 "plan": lambda: plan_table(say, world, sims // 4, rng)}
        checks = [c for part in args.only.split(",") for c in parts[part]()]
    say(f"\n{time.perf_counter() - start:.0f} s.\n\n### Targets (issue 19)\n")
    for c in checks:
        say(c.line())
    missed = [c for c in checks if not c.passed()]
    if args.quick and missed:
        say(f"\n{len(missed)} target(s) missed.")
        sys.exit(1)


if __name__ == "__main__":
    main()
