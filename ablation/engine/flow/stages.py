"""Chained stages: a coarse study, then a fine grid derived from its stored results.

Study 002 (section 4.3.4) tuned the learning rate this way: one value per decade, then ten values
between the best decade and its better neighbour. A study file asks for it with
``study.refine = { axis = "lr", values = 10 }``. Both stages are ordinary stored studies: the
first under the study's name, the second under ``<name>/fine`` (see ``spec.refined_stage``), so
``show``, ``export`` and optuna-dashboard read each like any other study. The second stage is a
pure function of the first stage's stored results, so re-running derives the same grid and, the
points being done already, runs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace

import optuna

from ablation.analysis.records import TrialRecord
from ablation.engine.flow.stage_summary import run_stage
from ablation.engine.options import FitFn, Progress, RunOptions, RunSummary
from ablation.engine.results.reader import load_trials
from ablation.engine.runners.choice import InProcess, Runner
from ablation.engine.storage.store import Store, open_store, shown_url
from ablation.errors import UserError
from ablation.spec.study import StudySpec, refined_stage


def stage_means(trials: Iterable[TrialRecord], axis: str, metric: str,
                seeds: Iterable[int]) -> dict[float, float]:
    """Mean of ``metric`` over seeds for each value of ``axis``, from complete trials only."""
    wanted = set(seeds)
    sums: dict[float, list[float]] = {}
    for t in trials:
        if t.state != "complete" or t.seed not in wanted or metric not in t.metrics:
            continue
        sums.setdefault(float(t.params[axis]), []).append(t.metrics[metric])
    return {v: sum(xs) / len(xs) for v, xs in sums.items()}


def bracket(means: Mapping[float, float], direction: str) -> tuple[float, float]:
    """The best value and its better neighbour (neighbours in sorted order of the values).

    Ties go to the smaller value, so the result does not depend on dict order.
    """
    values = sorted(means)
    if len(values) < 2:
        raise ValueError("a bracket needs results for at least two values")
    sign = 1.0 if direction == "maximize" else -1.0
    best = max(range(len(values)), key=lambda i: (sign * means[values[i]], -i))
    near = [i for i in (best - 1, best + 1) if 0 <= i < len(values)]
    other = max(near, key=lambda i: (sign * means[values[i]], -i))
    return values[best], values[other]


def fine_grid(a: float, b: float, n: int, spacing: str = "linear") -> tuple[float, ...]:
    """``n`` values from min(a, b) to max(a, b), both ends included, evenly or log spaced.

    Rounded to 10 significant digits so 1e-4 + 1e-4 reads (and is stored) as 2e-4.
    """
    if n < 2 or a == b:
        raise ValueError(f"fine_grid needs n >= 2 and two distinct ends, got {a}, {b}, {n}")
    lo, hi = min(a, b), max(a, b)
    if spacing == "log":
        if lo <= 0:
            raise ValueError("log spacing needs positive ends")
        raw = [math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * k / (n - 1))
               for k in range(n)]
    else:
        raw = [lo + (hi - lo) * k / (n - 1) for k in range(n)]
    return tuple(float(f"{v:.10g}") for v in raw)


def second_stage(spec: StudySpec, trials: Iterable[TrialRecord]) -> StudySpec:
    """The fine stage of ``spec``, derived from the first stage's stored ``trials``."""
    assert spec.refine is not None
    means = stage_means(trials, spec.refine.axis, spec.metric, spec.seeds)
    if len(means) < 2:
        raise UserError(f"study {spec.storage_name!r}: stage 1 has complete results for "
                        f"{len(means)} value(s) of {spec.refine.axis}; stage 2 needs two "
                        "(failed or pruned trials? run again to retry them)")
    best, neighbour = bracket(means, spec.direction)
    grid = fine_grid(best, neighbour, spec.refine.values, spec.refine.spacing)
    return refined_stage(spec, grid, best)


def run_stages(spec: StudySpec, options: RunOptions, fit_fn: FitFn,
               progress: Progress | None = None, runner: Runner | None = None,
               store: Store | None = None) -> list[RunSummary]:
    """Run ``spec``; with ``study.refine``, then its fine stage once stage 1 is complete.

    ``options.max_trials`` is one budget for both stages. Stage 2 waits while stage 1 has
    points left (interrupted, limited by --max-trials, or failed), since its grid depends on them.
    ``runner`` runs one stage (default: this process).
    """
    store = store or open_store(options.storage_url, grace_seconds=options.grace_seconds)
    runner = runner or InProcess(fit_fn, store, progress)
    first = run_stage(runner, store, spec, options)
    if spec.refine is None or first.remaining:
        return [first]
    budget = None if options.max_trials is None else options.max_trials - first.ran
    if budget == 0:
        return [first]
    fine = second_stage(spec, load_trials(store, spec.storage_name))
    _check_same_grid(store, fine)
    second = run_stage(runner, store, fine, replace(options, max_trials=budget))
    _note_origin(store, fine, spec)
    return [first, second]


def _check_same_grid(store: Store, fine: StudySpec) -> None:
    """Refuse to mix a new fine grid into a stored stage 2 derived from other stage-1 results."""
    try:
        study = optuna.load_study(study_name=fine.storage_name,
                                  storage=store.optuna)
    except KeyError:
        return
    before = study.user_attrs.get("derived_from", {}).get("values")
    now = list(fine.axes[0].choices)
    if before is not None and before != now:
        raise UserError(f"study {fine.storage_name!r} in {shown_url(store.url)} holds a stage 2 of "
                        f"{len(before)} values over {before[0]:g}..{before[-1]:g}, but stage 1's "
                        f"results and study.refine now give {len(now)} values over "
                        f"{now[0]:g}..{now[-1]:g}; use another --storage or rename the study")


def _note_origin(store: Store, fine: StudySpec, coarse: StudySpec) -> None:
    """Record in the fine study where its grid came from (readable in optuna-dashboard)."""
    study = optuna.load_study(study_name=fine.storage_name,
                              storage=store.optuna)
    axis = fine.axes[0]
    study.set_user_attr("derived_from", {
        "study": coarse.storage_name, "axis": axis.name, "metric": coarse.metric,
        "best": getattr(fine.baseline, axis.name), "values": list(axis.choices)})
