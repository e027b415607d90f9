"""Study -> the grid of (configuration, seed) points. Pure: no I/O, no Optuna."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, replace
from typing import Any

from ablation.analysis.records import BASELINE, FACTORIAL
from ablation.config.trainconfig import TrainConfig
from ablation.spec.recipe import cell_config, design_cells
from ablation.spec.search_keys import CONFIRM_AXIS
from ablation.spec.study import Axis, StudySpec


@dataclass(frozen=True)
class Point:
    """One trial to run: a configuration, the axis it varies (or the baseline) and a seed."""

    key: str
    ordinal: int  # seed-major grid order: one pass over every configuration, then repeats
    axis: str  # the varied axis; BASELINE for the untouched baseline configuration
    label: str  # the varied value as shown in tables ("nadam", "0.001", "baseline")
    seed: int
    params: dict[str, Any]  # value of every axis (and the seed) in this configuration
    config: TrainConfig
    is_baseline: bool = False

    def as_row(self) -> dict[str, Any]:
        """Column values for the points table."""
        return {"key": self.key, "ordinal": self.ordinal, "axis": self.axis,
                "label": self.label, "seed": self.seed, "is_baseline": self.is_baseline,
                "params": json.dumps(self.params, sort_keys=True),
                "config": json.dumps(self.config.describe(), sort_keys=True)}


def point_key(config: TrainConfig, seed: int) -> str:
    """Stable identity of (configuration, seed): the same inputs give the same key everywhere."""
    blob = json.dumps({"config": config.describe(), "seed": seed}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def label_of(value: Any) -> str:
    """How an axis value reads in tables."""
    return format(value, "g") if isinstance(value, float) else str(value)


def _configs(spec: StudySpec) -> list[tuple[str, str, TrainConfig]]:
    """(axis, label, config) for every configuration of a grid study."""
    base = spec.baseline
    if spec.recipe is not None:  # a recipe's design: the reference row first
        return [(c.axis, c.label, cell_config(spec.recipe, base, c.on))
                for c in design_cells(spec.recipe)]
    if spec.candidates:  # a confirm stage: the baseline and the listed configurations
        return [(BASELINE, BASELINE, base), *((CONFIRM_AXIS, label, replace(base, **dict(c)))
                                              for label, c in spec.candidates)]
    grid_axes: list[Axis] = [a for a in spec.axes if a.is_grid]
    if spec.mode == "factorial":
        out = []
        for values in itertools.product(*(a.choices for a in grid_axes)):
            changes = dict(zip((a.name for a in grid_axes), values, strict=True))
            label = ", ".join(f"{k}={label_of(v)}" for k, v in changes.items())
            out.append((FACTORIAL, label, replace(base, **changes)))
        return out
    out = [(BASELINE, BASELINE, base)]
    for axis in grid_axes:
        for value in axis.choices:
            if value != getattr(base, axis.name):
                out.append((axis.name, label_of(value), replace(base, **{axis.name: value})))
    return out


def grid_points(spec: StudySpec) -> list[Point]:
    """All points of a grid study: each configuration repeated over the study's seeds.

    One-at-a-time (the ablation design): the baseline once, then each axis value that differs
    from the baseline, everything else held at the baseline. Factorial: every combination.
    """
    points = []
    for i, (axis, label, cfg) in enumerate(_configs(spec)):
        params = {a.name: getattr(cfg, a.name) for a in spec.axes}
        is_base = axis == BASELINE
        if axis == BASELINE and len(spec.axes) == 1 and not spec.candidates:
            # A single-axis study reads best with the baseline under its own value.
            axis, label = spec.axes[0].name, label_of(getattr(cfg, spec.axes[0].name))
        for j, seed in enumerate(spec.seeds):
            points.append(Point(point_key(cfg, seed), j * 100_000 + i, axis, label, seed,
                                {**params, "seed": seed}, cfg, is_base))
    return points


def fingerprint(spec: StudySpec) -> str:
    """What must not change under a stored study's name: baseline and axes (seeds may grow)."""
    what: dict[str, Any] = {
        "baseline": spec.baseline.describe(), "mode": spec.mode,
        "axes": [[a.name, list(a.choices), a.low, a.high, a.log,
                  *([a.step] if a.step is not None else [])] for a in spec.axes]}
    # Only where set, so the fingerprints of studies stored before these keys stay the same.
    if spec.objectives:
        what["objectives"] = list(spec.objectives)
    if spec.candidates:
        what["candidates"] = [label for label, _ in spec.candidates]
    if spec.recipe is not None:
        what["recipe"] = [[c.name, [list(kv) for kv in c.changes]]
                          for c in spec.recipe.components]
        what["generators"] = [[g, list(w)] for g, w in spec.recipe.generators]
    blob = json.dumps(what, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def plan_summary(spec: StudySpec) -> str:
    """One line: the study's axes and how many configurations x seeds = trials it runs."""
    axes = ", ".join(f"{a.name} ({len(a.choices)} values)" if a.is_grid
                     else f"{a.name} ({'log ' if a.log else ''}{a.low:g}..{a.high:g}"
                     f"{f' step {a.step:g}' if a.step is not None else ''})"
                     for a in spec.axes)
    if spec.is_search:
        return f"study {spec.name}; axes: {axes}; {search_summary(spec)}"
    seeds = len(spec.seeds)
    if spec.recipe is not None:
        rows = design_cells(spec.recipe)
        return (f"study {spec.name}; {spec.recipe.design} recipe of "
                f"{len(spec.recipe.components)} components ({', '.join(spec.recipe.names)}); "
                f"{len(rows)} configurations x {seeds} seeds = {len(rows) * seeds} trials")
    configs = len(grid_points(spec)) // seeds
    then = (f"; then {spec.name}/fine: {spec.refine.values} values of {spec.refine.axis} x "
            f"{seeds} seeds = {spec.refine.values * seeds} trials" if spec.refine else "")
    return (f"study {spec.name}; axes: {axes}; {configs} configurations x {seeds} seeds = "
            f"{configs * seeds} trials{then}")


def search_summary(spec: StudySpec) -> str:
    """'30 trials sampled by tpe (seed 0) ..., then NAME/confirm: ...' for a sampled search."""
    goal = (f"objectives {', '.join(spec.objectives)}" if spec.objectives
            else f"metric {spec.metric}")
    text = (f"{spec.n_trials} trials sampled by {spec.sampler} (search seed {spec.search_seed}, "
            f"one seed per trial, {goal})")
    if spec.confirm is None:
        return text + "; no confirm stage"
    c = spec.confirm
    which = (f"up to {c.top} points of the Pareto front" if spec.objectives
             else f"the best {c.top} configurations")
    n = len(c.seeds)
    return (f"{text}; then {spec.name}/confirm: {which} and the baseline x {n} seeds = up to "
            f"{(c.top + 1) * n} trials")
