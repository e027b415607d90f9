"""Study files -> frozen StudySpec. All validation of a study happens in this package.

A study file has three parts: ``[study]`` (name, metric, direction, seeds, mode, ...),
``[baseline]`` (the full training configuration every trial starts from) and ``[axes.NAME]``
(the values to vary: ``choices = [...]`` or ``low``/``high``/``log``).
Raw dicts never leave this package.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ablation.errors import UserError
from ablation.spec.choices import check_metric, check_model_knobs, check_search
from ablation.spec.config import (
    TRAIN_FIELDS,
    TrainConfig,
    coerce_value,
    make_train_config,
)
from ablation.spec.limits import (
    INT_MAX,
    MAX_POINTS,
    check_document,
    check_grid_size,
    check_stored_name,
    check_study_name,
    check_validation_split,
    shown,
)

MODES = ("one-at-a-time", "factorial")
SPACINGS = ("linear", "log")


# A refined stage is chosen on validation data only: choosing it on the test set would leak.
REFINE_METRICS = ("val_accuracy", "val_loss")


MAX_SEEDS = 1000  # a typo such as seeds = 30000 should not register millions of points


FINE_SUFFIX = "/fine"  # storage name of a refined second stage: "<study>/fine"


@dataclass(frozen=True)
class Axis:
    """One factor to vary: a TrainConfig field and its values (or a continuous range)."""

    name: str
    choices: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    log: bool = False

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
    n_trials: int = 0  # for continuous axes: how many sampled configurations
    source: str = ""  # the file it came from
    overrides: tuple[tuple[str, Any], ...] = field(default=())
    refine: Refine | None = None

    @property
    def storage_name(self) -> str:
        """Name in storage: the study's name plus any command-line overrides of the baseline."""
        if not self.overrides:
            return self.name
        inner = ",".join(f"{k}={v}" for k, v in self.overrides)
        return f"{self.name}[{inner}]"


_STUDY_KEYS = {"name", "description", "metric", "direction", "seeds", "mode", "sampler",
               "pruner", "n_trials", "refine"}


_REFINE_KEYS = ("axis", "values", "spacing")


def _parse_axis(name: str, raw: Any, baseline: TrainConfig, where: str) -> Axis:
    at = f"{where}: axes.{name}"
    if name not in TRAIN_FIELDS:
        raise UserError(f"{at}: not a baseline key; allowed: {', '.join(TRAIN_FIELDS)}")
    if not isinstance(raw, Mapping):
        raise UserError(f"{at}: must be a table with 'choices' or 'low'/'high'")
    extra = sorted(set(raw) - {"choices", "low", "high", "log"}, key=str)
    if extra:
        raise UserError(f"{at}: unknown key {extra[0]!r}; allowed: choices, low, high, log")
    if "choices" in raw and len(raw) > 1:
        raise UserError(f"{at}: give either 'choices' or 'low'/'high' (with 'log'), not both")
    if "choices" in raw:
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
    if "low" not in raw or "high" not in raw:
        raise UserError(f"{at}: needs 'choices' or both 'low' and 'high'")
    low, high = (coerce_value(name, raw[k], f"{at}.{k}") for k in ("low", "high"))
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise UserError(f"{at}.log: must be true or false, got {log!r}")
    if not isinstance(low, int | float) or isinstance(low, bool) or not low < high:
        raise UserError(f"{at}: needs numbers with low < high, got low={low!r} high={high!r}")
    if log and low <= 0:
        raise UserError(f"{at}: log scale needs low > 0, got {low!r}")
    for v in (low, high):
        make_train_config({name: v}, at, baseline)
    return Axis(name, low=float(low), high=float(high), log=log)


def _parse_seeds(raw: Any, where: str) -> tuple[int, ...]:
    if isinstance(raw, int) and not isinstance(raw, bool):
        if not 1 <= raw <= MAX_SEEDS:
            raise UserError(f"{where}: study.seeds must be from 1 to {MAX_SEEDS}, got {raw}")
        return tuple(range(raw))
    if (isinstance(raw, list) and raw and all(isinstance(s, int) and not isinstance(s, bool)
                                              and 0 <= s <= INT_MAX for s in raw)):
        if len(set(raw)) != len(raw):
            raise UserError(f"{where}: study.seeds has a duplicate seed")
        if len(raw) > MAX_SEEDS:
            raise UserError(f"{where}: study.seeds lists {len(raw)} seeds; at most {MAX_SEEDS}")
        return tuple(raw)
    raise UserError(f"{where}: study.seeds must be a count or a list of seeds from 0 to "
                    f"{INT_MAX}, got {shown(raw)}")


def _pick(raw: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str,
          where: str) -> str:
    value = raw.get(key, default)
    if value not in allowed:
        raise UserError(f"{where}: study.{key} must be one of {', '.join(allowed)}, "
                        f"got {value!r}")
    return str(value)


def _sections(doc: Mapping[str, Any], where: str) -> tuple[Mapping[str, Any], ...]:
    unknown = sorted(set(doc) - {"study", "baseline", "axes"}, key=str)
    if unknown:
        raise UserError(f"{where}: unknown section {unknown[0]!r}; allowed: study, baseline, axes")
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
    if not axes:
        raise UserError(f"{where}: [axes] is empty; a study varies at least one key")
    parsed = tuple(_parse_axis(k, v, baseline, where) for k, v in axes.items())
    metric, direction = check_metric(study, baseline, where)
    sampler, pruner = check_search(study, not all(a.is_grid for a in parsed), metric, where)
    n_trials = study.get("n_trials", 0)
    if (not isinstance(n_trials, int) or isinstance(n_trials, bool)
            or not 0 <= n_trials <= MAX_POINTS):
        raise UserError(f"{where}: study.n_trials must be an integer from 0 to {MAX_POINTS}, "
                        f"got {shown(n_trials)}")
    mode = _pick(study, "mode", MODES, "one-at-a-time", where)
    check_model_knobs(baseline, parsed, mode, where)
    check_validation_split(metric, {baseline.val_fraction, *(
        v for a in parsed if a.name == "val_fraction" for v in (*a.choices, a.low))}, where)
    seeds = _parse_seeds(study.get("seeds", 3), where)
    check_grid_size(config_count(parsed, baseline, mode, n_trials), len(seeds), where)
    return StudySpec(
        name=name, baseline=baseline, axes=parsed,
        seeds=seeds, description=description,
        metric=metric, direction=direction, mode=mode, sampler=sampler, pruner=pruner,
        n_trials=n_trials, source=where,
        refine=_parse_refine(study["refine"], parsed, metric, where) if "refine" in study
        else None)


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
    if metric not in REFINE_METRICS:
        raise UserError(f"{at}: the second stage is chosen by study.metric, which must be one "
                        f"of {', '.join(REFINE_METRICS)} (never a test metric), got {metric!r}")
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


def with_overrides(spec: StudySpec, seeds: int | None = None,
                   **baseline: Any) -> StudySpec:
    """The study with command-line overrides of the baseline (and seed count) applied."""
    given = {k: v for k, v in baseline.items() if v is not None}
    out = spec
    if given:
        where = "command line"
        cfg = make_train_config(given, where, spec.baseline)
        for axis in spec.axes:  # axis values must still make valid configurations
            for v in axis.choices:
                make_train_config({axis.name: v}, f"{where}: axes.{axis.name}", cfg)
        check_model_knobs(cfg, spec.axes, spec.mode, where)
        merged = {**dict(spec.overrides), **given}
        out = replace(out, baseline=cfg, overrides=tuple(sorted(merged.items())))
    if seeds is not None:
        if not 1 <= seeds <= MAX_SEEDS:
            raise UserError(f"--seeds must be from 1 to {MAX_SEEDS}, got {seeds}")
        out = replace(out, seeds=tuple(range(seeds)))
    check_stored_name(out.storage_name, "command line")
    check_grid_size(config_count(out.axes, out.baseline, out.mode, out.n_trials),
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
