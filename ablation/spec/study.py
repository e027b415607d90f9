"""Study files -> frozen StudySpec. All validation of a study happens in this package.

A study file has three parts: ``[study]`` (name, metric, direction, seeds, mode, ...),
``[baseline]`` (the full training configuration every trial starts from) and ``[axes.NAME]``
(the values to vary: ``choices = [...]`` or ``low``/``high``/``log``).
Raw dicts never leave this package.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ablation.analysis.metrics import refinable
from ablation.config.devices import parse_placement
from ablation.config.limits import (
    check_document,
    check_grid_size,
    check_stored_name,
    check_study_name,
    shown,
)
from ablation.config.trainconfig import TRAIN_FIELDS, TrainConfig
from ablation.errors import UserError
from ablation.spec.choices import (
    check_knobs,
    check_metric,
    check_search,
    check_validation_split,
    parse_margin,
)
from ablation.spec.epochs import check_combinations, fit_epochs
from ablation.spec.recipe import Recipe, design_cells
from ablation.spec.recipe_study import parse_recipe_study, recipe_keys, recipe_on
from ablation.spec.search_keys import (
    CONFIRM_SUFFIX,
    Confirm,
    check_search_metrics,
    confirm_label,
    parse_confirm,
    parse_n_trials,
    parse_objectives,
    parse_range,
    parse_search_seed,
)
from ablation.spec.seeds import MAX_SEEDS, extend_seeds, parse_seeds
from ablation.spec.train_checks import coerce_value, make_train_config

MODES = ("one-at-a-time", "factorial")
SPACINGS = ("linear", "log")
FINE_SUFFIX = "/fine"  # storage name of a refined second stage: "<study>/fine"


@dataclass(frozen=True)
class Axis:
    """One factor to vary: a TrainConfig field and its values (or a continuous range)."""

    name: str
    choices: tuple[Any, ...] = ()
    low: float | None = None  # an int for integer keys (batch_size, epochs, ...)
    high: float | None = None
    log: bool = False
    step: float | None = None  # a range sampled on low, low + step, ... (None: continuous)

    @property
    def is_grid(self) -> bool:
        """True when the axis lists its values (grid), False for a continuous range."""
        return bool(self.choices)


@dataclass(frozen=True)
class Refine:
    """A second stage: ``values`` points between the best value of ``axis`` and its better
    neighbour, derived from the first stage's results (study 002, section 4.3.4)."""

    axis: str
    values: int = 10
    spacing: str = "linear"  # study 002 tried 1e-4, 2e-4, ..., 1e-3: evenly spaced


@dataclass(frozen=True)
class StudySpec:
    """A validated study: what to vary around which baseline, over which seeds."""

    name: str
    baseline: TrainConfig
    axes: tuple[Axis, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    description: str = ""
    metric: str = "val_accuracy"
    direction: str = "maximize"
    mode: str = "one-at-a-time"
    sampler: str = "grid"
    pruner: str = "none"
    n_trials: int = 0  # a sampled search: how many configurations, over all runs and workers
    source: str = ""  # the file it came from
    overrides: tuple[tuple[str, Any], ...] = field(default=())
    refine: Refine | None = None
    objectives: tuple[str, ...] = ()  # a multi-objective search (metric is the first)
    search_seed: int = 0  # a search's sampler seed and every search trial's training seed
    confirm: Confirm | None = None
    # A confirm stage's configurations: (label, ((key, value), ...)), run besides the baseline.
    candidates: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    device: str = "auto"  # where trials train (config/devices.py); not part of the configuration
    # What --epochs lowered to fit (swa_epochs 3 -> 2 ...): said where the study is run.
    adapted: tuple[str, ...] = ()
    deterministic: bool = False  # deterministic kernels and no cudnn.benchmark (docs/devices.md)
    recipe: Recipe | None = None  # a recipe study (spec/recipe.py): its design replaces axes
    margin: float | None = None  # equivalence margin, displayed unit; None: the default rule

    @property
    def is_search(self) -> bool:
        """True for a sampled search (Optuna's sampler picks the configurations)."""
        return self.sampler != "grid"

    @property
    def storage_name(self) -> str:
        """Name in storage: the study's name plus any command-line overrides of the baseline."""
        if not self.overrides:
            return self.name
        inner = ",".join(f"{k}={v}" for k, v in self.overrides)
        return f"{self.name}[{inner}]"


_STUDY_KEYS = {"name", "description", "metric", "direction", "seeds", "mode", "sampler",
               "pruner", "n_trials", "refine", "objectives", "search_seed", "confirm",
               "device", "deterministic", "margin", "design", "generators"}


_REFINE_KEYS = ("axis", "values", "spacing")


def _parse_axis(name: str, raw: Any, baseline: TrainConfig, where: str) -> Axis:
    at = f"{where}: axes.{name}"
    if name not in TRAIN_FIELDS:
        raise UserError(f"{at}: not a baseline key; allowed: {', '.join(TRAIN_FIELDS)}")
    if not isinstance(raw, Mapping):
        raise UserError(f"{at}: must be a table with 'choices' or 'low'/'high'")
    extra = sorted(set(raw) - {"choices", "low", "high", "log", "step"}, key=str)
    if extra:
        raise UserError(f"{at}: unknown key {extra[0]!r}; allowed: choices, low, high, log, "
                        "step")
    if "choices" in raw and len(raw) > 1:
        raise UserError(f"{at}: give either 'choices' or 'low'/'high' (with 'log'), not both")
    if "choices" not in raw:
        r = parse_range(name, raw, baseline, at)
        return Axis(name, low=r.low, high=r.high, log=r.log, step=r.step)
    choices = raw["choices"]
    if not isinstance(choices, list) or not choices:
        raise UserError(f"{at}.choices: must be a non-empty list")
    values = tuple(coerce_value(name, v, f"{at}.choices") for v in choices)
    if len(set(values)) != len(values):
        dup = next(v for v in values if values.count(v) > 1)
        raise UserError(f"{at}.choices: duplicate value {dup!r}")
    for v in values:  # every value must make a valid configuration
        make_train_config({name: v}, f"{at}.choices", baseline)
    return Axis(name, choices=values)


def _pick(raw: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str,
          where: str) -> str:
    value = raw.get(key, default)
    if value not in allowed:
        raise UserError(f"{where}: study.{key} must be one of {', '.join(allowed)}, "
                        f"got {value!r}")
    return str(value)


def _sections(doc: Mapping[str, Any], where: str) -> tuple[Mapping[str, Any], ...]:
    unknown = sorted(set(doc) - {"study", "baseline", "axes", "recipe"}, key=str)
    if unknown:
        raise UserError(f"{where}: unknown section {unknown[0]!r}; allowed: study, baseline, "
                        "axes, recipe")
    parts = tuple(doc.get(k, {}) for k in ("study", "baseline", "axes"))
    for key, part in zip(("study", "baseline", "axes"), parts, strict=True):
        if not isinstance(part, Mapping):
            raise UserError(f"{where}: [{key}] must be a table")
    bad = sorted(set(parts[0]) - _STUDY_KEYS, key=str)
    if bad:
        raise UserError(f"{where}: unknown key 'study.{bad[0]}'; allowed: "
                        f"{', '.join(sorted(_STUDY_KEYS))}")
    return parts


def _text(study: Mapping[str, Any], where: str) -> tuple[str, str]:
    """``study.name`` and ``study.description``."""
    name = study.get("name")
    if not isinstance(name, str) or not name.strip() or any(c in name for c in "[]/ "):
        raise UserError(f"{where}: study.name must be a non-empty string without spaces, "
                        f"'/' or brackets, got {shown(name)}")
    check_study_name(name, where)
    description = study.get("description", "")
    if not isinstance(description, str):
        raise UserError(f"{where}: study.description must be a string, got "
                        f"{shown(description)}")
    return name, description


def parse_study(doc: Mapping[str, Any], where: str) -> StudySpec:
    """Validate a parsed study document (from TOML or YAML) into a StudySpec."""
    check_document(doc, where)
    study, base, axes = _sections(doc, where)
    name, description = _text(study, where)
    baseline = make_train_config(base, f"{where}: baseline")
    if "recipe" in doc or "design" in study:  # a recipe study (spec/recipe_study.py)
        r = parse_recipe_study(doc, study, axes, baseline, where)
        return StudySpec(name, baseline, _one_value_axes(r.recipe), r.seeds, description,
                         r.metric, r.direction, r.recipe.design, source=where, recipe=r.recipe,
                         margin=parse_margin(study.get("margin"), where),
                         **parse_placement(study, where))
    if not axes:
        raise UserError(f"{where}: [axes] is empty; a study varies at least one key")
    parsed = tuple(_parse_axis(k, v, baseline, where) for k, v in axes.items())
    objectives = parse_objectives(study, where)
    for m in objectives[1:]:  # each objective as a metric: artifact metrics need an artifact
        check_metric({"metric": m}, baseline, where)
    metric, direction = check_metric({**study, "metric": objectives[0]} if objectives else study,
                                     baseline, where)
    sampler, pruner = check_search(study, not all(a.is_grid for a in parsed), metric, where,
                                   objectives)
    mode = _pick(study, "mode", MODES, "one-at-a-time", where)
    check_knobs(baseline, parsed, mode, where)
    check_combinations(parsed, baseline, mode, sampler != "grid", where)
    check_validation_split(metric, {baseline.val_fraction, *(
        v for a in parsed if a.name == "val_fraction" for v in (*a.choices, a.low))}, where)
    seeds = parse_seeds(study.get("seeds", 3), where)
    searched = _search_keys(study, baseline, seeds, sampler != "grid", where)
    check_grid_size(config_count(parsed, baseline, mode, searched["n_trials"]), len(seeds), where)
    return StudySpec(
        name=name, baseline=baseline, axes=parsed, seeds=seeds, description=description,
        metric=metric, direction=direction, mode=mode, sampler=sampler, pruner=pruner,
        source=where, objectives=objectives,
        refine=_parse_refine(study["refine"], parsed, metric, where) if "refine" in study
        else None, **searched, **parse_placement(study, where),
        margin=parse_margin(study.get("margin"), where))


def _one_value_axes(recipe: Recipe) -> tuple[Axis, ...]:
    return tuple(Axis(k, choices=(v,)) for k, v in recipe_keys(recipe))


def _search_keys(study: Mapping[str, Any], baseline: TrainConfig, seeds: tuple[int, ...],
                 searched: bool, where: str) -> dict[str, Any]:
    """``n_trials``, ``search_seed`` and ``confirm``, and what a sampled search may not have."""
    if not searched:
        for key in ("objectives", "confirm", "search_seed"):
            if key in study:
                raise UserError(f"{where}: study.{key} belongs to a sampled search; set "
                                "study.sampler (e.g. \"tpe\") and give n_trials")
        return {"n_trials": parse_n_trials(study, False, where)}
    if "refine" in study:
        raise UserError(f"{where}: study.refine refines a grid; a sampled search is followed "
                        "by study.confirm instead")
    objectives = study.get("objectives") or [study.get("metric", "val_accuracy")]
    check_search_metrics(objectives, baseline, where)
    return {"n_trials": parse_n_trials(study, True, where),
            "search_seed": parse_search_seed(study, seeds, where),
            "confirm": parse_confirm(study["confirm"], seeds, where) if "confirm" in study
            else None}


def _parse_refine(raw: Any, axes: tuple[Axis, ...], metric: str, where: str) -> Refine:
    """``study.refine = { axis = "lr", values = 10, spacing = "linear" }``."""
    at = f"{where}: study.refine"
    if not isinstance(raw, Mapping):
        raise UserError(f"{at}: must be a table like {{ axis = \"lr\", values = 10 }}")
    extra = sorted(set(raw) - set(_REFINE_KEYS), key=str)
    if extra:
        raise UserError(f"{at}: unknown key {extra[0]!r}; allowed: {', '.join(_REFINE_KEYS)}")
    name = raw.get("axis")
    if len(axes) != 1 or name != axes[0].name:
        raise UserError(f"{at}.axis: must name the study's only axis "
                        f"({', '.join(a.name for a in axes)}), got {name!r}")
    axis = axes[0]
    if str(TRAIN_FIELDS[axis.name].type) != "float" or len(axis.choices) < 2:
        raise UserError(f"{at}.axis: {name!r} must be a number-valued axis (lr, weight_decay, "
                        "dropout, ...) with at least 2 choices")
    values = raw.get("values", 10)
    if not isinstance(values, int) or isinstance(values, bool) or not 2 <= values <= 100:
        raise UserError(f"{at}.values: must be an integer from 2 to 100, got {values!r}")
    spacing = raw.get("spacing", "linear")
    if spacing not in SPACINGS:
        raise UserError(f"{at}.spacing: must be one of {', '.join(SPACINGS)}, got {spacing!r}")
    if spacing == "log" and min(axis.choices) <= 0:
        raise UserError(f"{at}.spacing: log spacing needs every choice of {name} > 0")
    if metric not in refinable():
        raise UserError(f"{at}: the second stage is chosen by study.metric, which must be one "
                        f"of {', '.join(refinable())} (never a test metric), got {metric!r}")
    return Refine(name, values, spacing)


def refined_stage(spec: StudySpec, values: tuple[float, ...], best: float) -> StudySpec:
    """The second stage of ``spec``: its refine axis over ``values``, centred on ``best``.

    The stage's baseline is the first stage's best value, so its table compares every fine
    value with the winner of the coarse stage.
    """
    assert spec.refine is not None
    name = spec.refine.axis
    where = f"{spec.source}: stage 2 of study.refine"
    baseline = make_train_config({name: best}, where, spec.baseline)
    for v in values:
        make_train_config({name: v}, where, baseline)
    return replace(spec, name=spec.name + FINE_SUFFIX, baseline=baseline,
                   axes=(Axis(name, choices=tuple(values)),), refine=None)


def confirm_stage(spec: StudySpec, chosen: Sequence[Mapping[str, Any]]) -> StudySpec:
    """The confirm stage of a search: the baseline and each ``chosen`` configuration (the
    searched axes' values) over the confirm seeds, as a grid study named ``<study>/confirm``.

    The axes list the chosen values (so Optuna and the dashboard see ordinary parameters); the
    configurations themselves are the candidates, not a product of the axes.
    """
    assert spec.confirm is not None
    where = f"{spec.source}: the confirm stage"
    candidates = []
    for changes in chosen:
        make_train_config(changes, where, spec.baseline)
        candidates.append((confirm_label(changes), tuple(changes.items())))
    axes = tuple(Axis(a.name, choices=tuple(dict.fromkeys(
        [c[a.name] for c in chosen if a.name in c] or [getattr(spec.baseline, a.name)])))
        for a in spec.axes)
    return replace(spec, name=spec.name + CONFIRM_SUFFIX, axes=axes, seeds=spec.confirm.seeds,
                   sampler="grid", pruner="none", n_trials=0, objectives=(), confirm=None,
                   metric=spec.metric, candidates=tuple(candidates))


def with_overrides(spec: StudySpec, seeds: int | None = None, n_trials: int | None = None,
                   **baseline: Any) -> StudySpec:
    """The study with command-line overrides of the baseline, the seed count (a search's
    confirm seeds too) and a search's trial budget applied."""
    given = {k: v for k, v in baseline.items() if v is not None}
    out = spec
    if given:
        where = "command line"
        out = fit_epochs(spec, given.get("epochs"))
        cfg = make_train_config(given, where, out.baseline)
        if out.recipe is not None:
            recipe = recipe_on(out.recipe, out.baseline, cfg, where)
            out = replace(out, recipe=recipe, axes=_one_value_axes(recipe))
        for axis in out.axes:  # axis values must still make valid configurations
            for v in (*axis.choices, *((axis.low, axis.high) if not axis.is_grid else ())):
                make_train_config({axis.name: v}, f"{where}: axes.{axis.name}", cfg)
        check_knobs(cfg, () if out.recipe else out.axes, out.mode, where)
        check_combinations(out.axes, cfg, out.mode, out.is_search, where)
        merged = {**dict(spec.overrides), **given}
        out = replace(out, baseline=cfg, overrides=tuple(sorted(merged.items())))
    if seeds is not None:
        if not 1 <= seeds <= MAX_SEEDS:
            raise UserError(f"--seeds must be from 1 to {MAX_SEEDS}, got {seeds}")
        out = replace(out, seeds=extend_seeds(spec.seeds, seeds))
        if out.confirm is not None:
            if seeds < 2:
                raise UserError("--seeds: a search's confirm stage needs at least 2 seeds")
            out = replace(out, confirm=replace(out.confirm,
                                               seeds=extend_seeds(out.confirm.seeds, seeds)))
    if n_trials is not None:
        if not out.is_search:
            raise UserError(f"--n-trials: study {spec.name!r} is a grid (sampler 'grid'); "
                            "its trials are its configurations x seeds")
        if n_trials < 1:
            raise UserError(f"--n-trials must be >= 1, got {n_trials}")
        out = replace(out, n_trials=n_trials)
    check_stored_name(out.storage_name, "command line")
    check_grid_size(len(design_cells(out.recipe)) if out.recipe is not None else
                    config_count(out.axes, out.baseline, out.mode, out.n_trials),
                    len(out.seeds), "command line")
    return out


def config_count(axes: tuple[Axis, ...], baseline: TrainConfig, mode: str,
                 n_trials: int = 0) -> int:
    """How many configurations a study runs, counted without building them."""
    grid = [a for a in axes if a.is_grid]
    if not all(a.is_grid for a in axes):
        return max(1, n_trials)
    if mode == "factorial":
        return math.prod(len(a.choices) for a in grid)
    return 1 + sum(v != getattr(baseline, a.name) for a in grid for v in a.choices)
