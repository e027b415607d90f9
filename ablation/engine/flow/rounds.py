"""``run --until-resolved`` (and ``run``'s default rounds, ``default_rounds``): add seeds in
rounds, only to cells whose verdict is still open,
with the group-sequential rule of ``analysis/sequential.py`` (Haybittle-Peto thresholds over
the planned looks, the level shared by the cells: family-wise error <= level over every look
and cell; simulated in docs/statistics.md).

Look k uses exactly the first n_k seeds of the study's seed list (``planned_looks``), so a look
is a pure function of the stored trials: re-running the command re-makes the same looks and
runs nothing new, and ``show`` reports the recorded outcome (``ablate_looks``), never a fresh
fixed-level test on the final seeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ablation.analysis.contrasts import pair_up, t_test
from ablation.analysis.evalnoise import default_margin
from ablation.analysis.metrics import METRICS
from ablation.analysis.records import TrialRecord
from ablation.analysis.seeds.sequential import (
    CONTINUE,
    DEFAULT_MAX_SEEDS,
    DEFAULT_ROUND_SEEDS,
    HAYBITTLE_PETO,
    MIN_START,
    planned_looks,
    sequential_decision,
)
from ablation.engine.flow.stage_summary import run_stage
from ablation.engine.options import RunOptions, RunSummary
from ablation.engine.results.reader import load_trials, trial_attrs
from ablation.engine.runners.choice import Runner
from ablation.engine.storage import db, evidence
from ablation.engine.storage.store import Store, shown_url
from ablation.errors import UserError
from ablation.spec.recipe import LEAVE_ONE_OUT
from ablation.spec.space import grid_points
from ablation.spec.study import StudySpec, extend_seeds

Cell = tuple[str, str]  # (axis, label)


@dataclass(frozen=True)
class Rounds:
    """The plan: seeds per cell at each look, the level shared by the cells, the design,
    and the equivalence margin (display units; None: --margin not given, resolved by
    :func:`look_margin` after the first look)."""

    looks: tuple[int, ...]
    level: float = 0.05
    design: str = HAYBITTLE_PETO
    margin: float | None = None


def plan_rounds(spec: StudySpec, max_seeds: int, step: int, level: float,
                margin: float | None = None) -> Rounds:
    """Looks at the study's seed count, then every ``step`` seeds up to ``max_seeds``."""
    if spec.recipe is not None and spec.mode != LEAVE_ONE_OUT:
        raise UserError(f"{spec.source or spec.name}: --until-resolved decides cells against "
                        f"one reference; a {spec.mode} recipe is read step by step or by "
                        "effects: give --seeds N instead (design = \"leave-one-out\" works)")
    if spec.mode not in ("one-at-a-time", LEAVE_ONE_OUT) or spec.refine is not None:
        raise UserError(f"{spec.source or spec.name}: --until-resolved compares cells with the "
                        "baseline, so it needs a one-at-a-time study without refine stages")
    if not all(a.is_grid for a in spec.axes):
        raise UserError(f"{spec.source or spec.name}: --until-resolved needs listed 'choices' "
                        "on every axis (it adds seeds to fixed cells)")
    if len(spec.seeds) < MIN_START:
        raise UserError(f"--until-resolved starts from at least {MIN_START} seeds per cell (got "
                        f"{len(spec.seeds)}): with 2, two equal paired differences give p ~ 0 and "
                        "the rule's error rate is no longer held (docs/statistics.md)")
    if max_seeds <= len(spec.seeds):
        raise UserError(f"--max-seeds {max_seeds} must be more than the {len(spec.seeds)} "
                        "seeds the first look runs (--seeds)")
    return Rounds(tuple(planned_looks(len(spec.seeds), max_seeds, step)), level,
                  margin=margin)


def default_rounds(spec: StudySpec, level: float, margin: float | None = None) -> Rounds | None:
    """``run``'s default: rounds from the study's seeds, DEFAULT_ROUND_SEEDS more per round to
    cells still open, up to DEFAULT_MAX_SEEDS (chosen by benchmarks/calibration.py); None where
    a study cannot take rounds (a search, refine stages, sampled axes, fewer than 3 seeds, or
    already that many), which then runs its seeds once."""
    if (spec.mode != "one-at-a-time" or spec.refine is not None or spec.is_search
            or not all(a.is_grid for a in spec.axes)
            or not MIN_START <= len(spec.seeds) < DEFAULT_MAX_SEEDS):
        return None
    looks = planned_looks(len(spec.seeds), DEFAULT_MAX_SEEDS, DEFAULT_ROUND_SEEDS)
    return Rounds(tuple(looks), level, margin=margin)


def cell_values(trials: Sequence[TrialRecord], metric: str,
                seeds: Sequence[int]) -> tuple[dict[Cell, dict[int, float]], Cell | None]:
    """Complete trials' ``metric`` (display units) per cell over ``seeds``, and the baseline."""
    wanted, info = set(seeds), METRICS.get(metric)
    cells: dict[Cell, dict[int, float]] = {}
    base = None
    for t in sorted(trials, key=lambda t: t.number):
        key = (t.axis, t.label)
        cells.setdefault(key, {})
        if t.is_baseline:
            base = key
        if t.state == "complete" and t.seed in wanted and metric in t.metrics:
            cells[key][t.seed] = info.shown(t.metrics[metric])
    return cells, base


def decide_look(trials: Sequence[TrialRecord], spec: StudySpec, plan: Rounds, look: int,
                open_cells: set[Cell]) -> list[dict[str, Any]]:
    """The rule's outcome at look ``look`` (1-based) for every open cell, as ``ablate_looks``
    rows; the level is shared by all cells compared with the baseline (decided ones too)."""
    metric = METRICS.get(spec.metric).compared
    n = plan.looks[look - 1]
    cells, base = cell_values(trials, metric, extend_seeds(spec.seeds, n))
    if base is None:
        raise UserError(f"study {spec.storage_name!r} has no baseline trials to compare with")
    m = len(cells) - 1
    rows = []
    for key in sorted(open_cells):
        d = sequential_decision(cells.get(key, {}), cells[base], look, len(plan.looks),
                                METRICS.get(metric).higher_is_better, plan.level, m,
                                plan.design, plan.margin)
        pair = pair_up(cells.get(key, {}), cells[base])
        r = t_test(pair)
        rows.append({"look": look, "axis": key[0], "label": key[1], "looks": len(plan.looks),
                     "seeds": n, "n": len(pair.a), "metric": metric, "design": plan.design,
                     "level": plan.level, "cells": m, "test": d.test, "p": _num(d.p),
                     "threshold": d.threshold, "diff": None if r is None else _num(r.diff),
                     "outcome": d.outcome})
    return rows


def look_margin(store: Store, spec: StudySpec, trials: Sequence[TrialRecord],
                given: float | None) -> float | None:
    """The margin every look's TOST uses: ``given`` (--margin), else the study's, else for an
    accuracy the test set's resolution (``default_margin``) at the baseline's mean over the
    first look's seeds, so that it is fixed before any round is added; else None."""
    from ablation.reporting.summary import accuracy_split

    if given is not None or spec.margin is not None:
        return given if given is not None else spec.margin
    metric = METRICS.get(spec.metric).compared
    split = accuracy_split(metric)
    cells, base = cell_values(trials, metric, spec.seeds)
    done = next((t.number for t in trials if t.state == "complete"), None)
    if split is None or base is None or not cells[base] or done is None:
        return None
    n = int(trial_attrs(store, spec.storage_name, done).get("data_sizes", {}).get(split, 0))
    value = default_margin(sum(cells[base].values()) / len(cells[base]), n)
    return None if math.isnan(value) else value


def _num(x: float) -> float | None:
    return None if x != x else float(x)


def _check_plan(store: Store, name: str, plan: Rounds) -> None:
    """Refuse to re-plan a study's rounds: the error guarantee holds for one fixed plan."""
    before = {(int(r["look"]), int(r["seeds"]), int(r["looks"]), float(r["level"]))
              for r in evidence.looks(store.engine, name)}
    mine = {(k, n, len(plan.looks), plan.level) for k, n in enumerate(plan.looks, 1)}
    if before - mine:
        seeds = "/".join(str(s) for s in sorted({b[1] for b in before}))
        raise UserError(f"study {name!r} in {shown_url(store.url)} ran its rounds with looks at "
                        f"{seeds} seeds; run --until-resolved with the same --seeds, --max-seeds,"
                        " --round-seeds and --level (the rule's error rate holds for the plan "
                        "made up front), or use another --storage")


def _add_round(store: Store, spec: StudySpec, n: int, open_cells: set[Cell]) -> int:
    """Register the points the next look needs: open cells and the baseline, n seeds each."""
    grown = replace(spec, seeds=extend_seeds(spec.seeds, n))
    points = [p for p in grid_points(grown)
              if p.is_baseline or (p.axis, p.label) in open_cells]
    return db.add_points(store.engine, spec.storage_name, (p.as_row() for p in points))


MAX_ATTEMPTS = 3  # db.claim_point's: a point failed this often is left out, not waited for


def _not_done(store: Store, name: str) -> tuple[int, int]:
    """(points in all, points still to run: pending, running or failed with tries left)."""
    rows = db.list_points(store.engine, name)
    return len(rows), sum(r.state in ("pending", "running")
                          or (r.state == "failed" and r.attempts < MAX_ATTEMPTS) for r in rows)


def _round(spec: StudySpec, options: RunOptions, store: Store, runner: Runner) -> RunSummary:
    """Run every pending point of the study (the workers claim the round's new points too)."""
    total, left = _not_done(store, spec.storage_name)
    done_before = total - left
    ran = run_stage(runner, store, spec, options).ran
    total, left = _not_done(store, spec.storage_name)
    return RunSummary(spec.storage_name, total, ran, done_before, left)


Say = Callable[[str], None]


def run_until_resolved(spec: StudySpec, options: RunOptions, plan: Rounds, runner: Runner,
                       store: Store,
                       say: Say = lambda _: None) -> list[RunSummary]:
    """Run the first look's seeds, then rounds that add seeds only to open cells, until every
    cell is decided or the last look is made. Stops early (points left to run: --max-trials,
    an interruption) with the looks made so far recorded; the same command resumes.
    ``--max-trials`` is one budget for all rounds."""
    db.create_tables(store.engine)
    _check_plan(store, spec.storage_name, plan)
    summaries: list[RunSummary] = []
    open_cells: set[Cell] | None = None
    budget = options.max_trials
    for look, n in enumerate(plan.looks, 1):
        if look > 1:
            assert open_cells is not None
            _add_round(store, spec, n, open_cells)
        summaries.append(_round(spec, replace(options, max_trials=budget), store, runner))
        budget = None if budget is None else budget - summaries[-1].ran
        if summaries[-1].remaining:
            say(f"look {look} of {len(plan.looks)} waits: {summaries[-1].remaining} point(s) "
                "not done; run the same command again to go on")
            break
        trials = load_trials(store, spec.storage_name)
        if open_cells is None:
            cells, base = cell_values(trials, METRICS.get(spec.metric).compared, spec.seeds)
            open_cells = {c for c in cells if c != base}
            plan = replace(plan, margin=look_margin(store, spec, trials, plan.margin))
        rows = decide_look(trials, spec, plan, look, open_cells)
        evidence.put_looks(store.engine, spec.storage_name, rows)
        open_cells = {(r["axis"], r["label"]) for r in rows if r["outcome"] == CONTINUE}
        say(f"look {look} of {len(plan.looks)} ({n} seeds per cell): "
            f"{len(rows) - len(open_cells)} cell(s) decided, {len(open_cells)} still open")
        if not open_cells or budget == 0:
            break
    return summaries
