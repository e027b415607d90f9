"""Study files -> frozen dataclasses (StudySpec, TrainConfig). All validation happens here.

A study file has three parts: ``[study]`` (name, metric, direction, seeds, mode, ...),
``[baseline]`` (the full training configuration every trial starts from) and ``[axes.NAME]``
(the values to vary: ``choices = [...]`` or ``low``/``high``/``log``).
Raw dicts never leave this module.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ablation.documents import read_document
from ablation.errors import UserError

SCHEDULES = ("onecycle", "cosine", "step", "constant")
PRECISIONS = ("fp32", "bf16")
LOSSES = ("cross-entropy", "class-weighted", "focal")
METRICS = ("val_accuracy", "val_loss", "test_accuracy", "test_loss", "macro_f1",
           "train_seconds", "artifact_test_accuracy", "artifact_bytes")
DIRECTIONS = ("maximize", "minimize")
MODES = ("one-at-a-time", "factorial")
SAMPLERS = ("grid", "tpe", "random")
PRUNERS = ("none", "median", "successive-halving")
SPACINGS = ("linear", "log")
# A refined stage is chosen on validation data only: choosing it on the test set would leak.
REFINE_METRICS = ("val_accuracy", "val_loss")
MAX_SEEDS = 1000  # a typo such as seeds = 30000 should not register millions of points
FINE_SUFFIX = "/fine"  # storage name of a refined second stage: "<study>/fine"
PRUNE_SCOPES = ("layer", "global")
QUANTIZE = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run depends on except the seed."""

    dataset: str = "digits"
    model: str = "resnet-lite"
    activation: str = "relu"
    blocks: int = 3  # residual blocks (resnet-lite); study 002 chose 3 (Table 5)
    # Stem feature maps. Study 002's stem has 32 (its studies state width = 32); the default is 16:
    # 4x fewer FLOPs (16.6 vs 66.1 MFLOP per image), same accuracy class (docs/results-speed.md).
    width: int = 16
    # Dropout 0, lr 4e-3 and label smoothing 0.1 (below): the time-to-accuracy recipe, 99.2% MNIST
    # test accuracy after a 2-epoch run in ~6.5 s on 2 cores (docs/results-speed.md). Study 002's
    # studies state dropout = 0.1, lr and label_smoothing = 0 themselves.
    dropout: float = 0.0
    optimizer: str = "nadam"
    lr: float = 4e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    # 128, not 256: on the 1.3k-image digits set 256 leaves 6 steps per epoch and a 4-epoch run
    # stays at chance (tests/test_training.py); batch 256 on MNIST: docs/results-speed.md.
    batch_size: int = 128
    epochs: int = 10
    schedule: str = "onecycle"
    warmup: float = 0.2  # share of the steps spent warming up (onecycle)
    grad_clip: float = 0.0  # max global grad norm; 0 turns clipping off (study 000 clipped)
    label_smoothing: float = 0.1
    loss: str = "cross-entropy"
    augment: bool = False
    val_fraction: float = 0.1
    train_limit: int = 0  # use only the first N training images; 0 means all
    precision: str = "bf16"  # CPU autocast; ~2x faster per epoch, same accuracy (results-speed.md)
    # --- compression (issue 4) ---
    swa_epochs: int = 0  # average the weights of the last N epochs (study 000); 0 turns SWA off
    swa_lr: float = 0.0  # constant LR during the SWA epochs; 0 keeps the schedule's LR
    prune: float = 0.0  # share of conv/linear weights removed by L1 magnitude after training
    prune_scope: str = "layer"  # "layer": each layer loses `prune`; "global": one threshold
    prune_finetune: int = 0  # epochs of fine-tuning after pruning, with the masks held fixed
    quantize: str = "fp32"  # weight format of the artifact: fp32, fp16 or int8 (per channel)
    artifact: bool = False  # write, reload and score an artifact even when nothing is compressed
    dst_sparsity: float = 0.0  # dynamic sparse training: target sparsity; 0 trains dense
    dst_interval: int = 100  # optimizer steps between drop-and-regrow updates
    dst_drop: float = 0.3  # share of active weights replaced at the first update (cosine decay)

    def describe(self) -> dict[str, Any]:
        """Plain dict of the configuration, for storage and display."""
        return dataclasses.asdict(self)


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


_TRAIN_FIELDS = {f.name: f for f in fields(TrainConfig)}
_STUDY_KEYS = {"name", "description", "metric", "direction", "seeds", "mode", "sampler",
               "pruner", "n_trials", "refine"}
_REFINE_KEYS = ("axis", "values", "spacing")


def _type_name(tp: Any) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[tp]


def _coerce(key: str, value: Any, where: str) -> Any:
    """Check one TrainConfig value's type (ints are accepted for floats)."""
    tp = {"int": int, "float": float, "bool": bool, "str": str}[str(_TRAIN_FIELDS[key].type)]
    ok = isinstance(value, tp) and not (tp is int and isinstance(value, bool))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise UserError(f"{where}: {key} must be {_type_name(tp)}, got {value!r}")
    return value


def _check_train_values(cfg: TrainConfig, where: str) -> None:
    """Range and name checks for a complete TrainConfig."""
    from ablation.data import DATASETS
    from ablation.layers import ACTIVATIONS
    from ablation.models import MODELS
    from ablation.optim import OPTIMIZERS

    for key, registry in (("dataset", DATASETS), ("model", MODELS),
                          ("activation", ACTIVATIONS), ("optimizer", OPTIMIZERS)):
        name = getattr(cfg, key)
        if name not in registry:
            raise UserError(f"{where}: unknown {key} {name!r}; allowed: "
                            f"{', '.join(registry.names())}")
    for key, allowed in (("schedule", SCHEDULES), ("precision", PRECISIONS), ("loss", LOSSES)):
        if getattr(cfg, key) not in allowed:
            raise UserError(f"{where}: {key} must be one of {', '.join(allowed)}, "
                            f"got {getattr(cfg, key)!r}")
    positive = ("lr", "batch_size", "epochs", "width", "blocks")
    for key in positive:
        value = getattr(cfg, key)
        if not (value > 0 and math.isfinite(value)):
            raise UserError(f"{where}: {key} must be > 0, got {value!r}")
    unit = {"dropout": (0.0, 1.0), "warmup": (0.0, 1.0), "label_smoothing": (0.0, 1.0),
            "val_fraction": (0.0, 0.9), "momentum": (0.0, 1.0)}
    for key, (lo, hi) in unit.items():
        value = getattr(cfg, key)
        if not lo <= value < hi:
            raise UserError(f"{where}: {key} must be in [{lo}, {hi}), got {value!r}")
    for key in ("weight_decay", "grad_clip", "train_limit"):
        if getattr(cfg, key) < 0:
            raise UserError(f"{where}: {key} must be >= 0, got {getattr(cfg, key)!r}")
    _check_compression_values(cfg, where)


def _check_compression_values(cfg: TrainConfig, where: str) -> None:
    """Checks of the issue-4 keys (SWA, pruning, quantization, dynamic sparse training)."""
    for key, allowed in (("prune_scope", PRUNE_SCOPES), ("quantize", QUANTIZE)):
        if getattr(cfg, key) not in allowed:
            raise UserError(f"{where}: {key} must be one of {', '.join(allowed)}, "
                            f"got {getattr(cfg, key)!r}")
    for key in ("swa_epochs", "swa_lr", "prune_finetune"):
        if not (getattr(cfg, key) >= 0 and math.isfinite(getattr(cfg, key))):
            raise UserError(f"{where}: {key} must be >= 0, got {getattr(cfg, key)!r}")
    if cfg.swa_epochs > cfg.epochs:
        raise UserError(f"{where}: swa_epochs ({cfg.swa_epochs}) must not exceed epochs "
                        f"({cfg.epochs})")
    # 0.99 at most: beyond it whole layers empty out and the ratio axis stops meaning much.
    for key, hi in (("prune", 0.99), ("dst_sparsity", 0.99), ("dst_drop", 1.0)):
        if not 0.0 <= getattr(cfg, key) <= hi:
            raise UserError(f"{where}: {key} must be in [0, {hi}], got {getattr(cfg, key)!r}")
    if cfg.dst_interval < 1:
        raise UserError(f"{where}: dst_interval must be >= 1, got {cfg.dst_interval!r}")


def writes_artifact(cfg: TrainConfig) -> bool:
    """True when a run of ``cfg`` compresses its model or asks for an artifact."""
    return cfg.artifact or cfg.prune > 0 or cfg.quantize != "fp32" or cfg.dst_sparsity > 0


def make_train_config(raw: Mapping[str, Any], where: str,
                      base: TrainConfig | None = None) -> TrainConfig:
    """Validate ``raw`` (keys of TrainConfig) on top of ``base`` into a TrainConfig."""
    unknown = sorted(set(raw) - set(_TRAIN_FIELDS), key=str)
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r}; allowed: "
                        f"{', '.join(_TRAIN_FIELDS)}")
    values = {k: _coerce(k, v, where) for k, v in raw.items()}
    cfg = replace(base or TrainConfig(), **values)
    _check_train_values(cfg, where)
    return cfg


def _parse_axis(name: str, raw: Any, baseline: TrainConfig, where: str) -> Axis:
    at = f"{where}: axes.{name}"
    if name not in _TRAIN_FIELDS:
        raise UserError(f"{at}: not a baseline key; allowed: {', '.join(_TRAIN_FIELDS)}")
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
        values = tuple(_coerce(name, v, f"{at}.choices") for v in choices)
        if len(set(values)) != len(values):
            dup = next(v for v in values if values.count(v) > 1)
            raise UserError(f"{at}.choices: duplicate value {dup!r}")
        for v in values:  # every value must make a valid configuration
            make_train_config({name: v}, f"{at}.choices", baseline)
        return Axis(name, choices=values)
    if "low" not in raw or "high" not in raw:
        raise UserError(f"{at}: needs 'choices' or both 'low' and 'high'")
    low, high = (_coerce(name, raw[k], f"{at}.{k}") for k in ("low", "high"))
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
                                              and s >= 0 for s in raw)):
        if len(set(raw)) != len(raw):
            raise UserError(f"{where}: study.seeds has a duplicate seed")
        return tuple(raw)
    raise UserError(f"{where}: study.seeds must be a count or a list of seeds >= 0, got {raw!r}")


def _pick(raw: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str,
          where: str) -> str:
    value = raw.get(key, default)
    if value not in allowed:
        raise UserError(f"{where}: study.{key} must be one of {', '.join(allowed)}, "
                        f"got {value!r}")
    return str(value)


def parse_study(doc: Mapping[str, Any], where: str) -> StudySpec:
    """Validate a parsed study document (from TOML or YAML) into a StudySpec."""
    unknown = sorted(set(doc) - {"study", "baseline", "axes"}, key=str)
    if unknown:
        raise UserError(f"{where}: unknown section {unknown[0]!r}; allowed: study, baseline, axes")
    study, base, axes = (doc.get(k, {}) for k in ("study", "baseline", "axes"))
    for key, part in (("study", study), ("baseline", base), ("axes", axes)):
        if not isinstance(part, Mapping):
            raise UserError(f"{where}: [{key}] must be a table")
    bad = sorted(set(study) - _STUDY_KEYS, key=str)
    if bad:
        raise UserError(f"{where}: unknown key 'study.{bad[0]}'; allowed: "
                        f"{', '.join(sorted(_STUDY_KEYS))}")
    name = study.get("name")
    if not isinstance(name, str) or not name.strip() or any(c in name for c in "[]/ "):
        raise UserError(f"{where}: study.name must be a non-empty string without spaces, "
                        f"'/' or brackets, got {name!r}")
    baseline = make_train_config(base, f"{where}: baseline")
    if not axes:
        raise UserError(f"{where}: [axes] is empty; a study varies at least one key")
    parsed = tuple(_parse_axis(k, v, baseline, where) for k, v in axes.items())
    sampler = _pick(study, "sampler", SAMPLERS, "grid" if all(a.is_grid for a in parsed)
                    else "tpe", where)
    n_trials = study.get("n_trials", 0)
    if not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 0:
        raise UserError(f"{where}: study.n_trials must be an integer >= 0, got {n_trials!r}")
    if not all(a.is_grid for a in parsed) and (sampler == "grid" or n_trials == 0):
        raise UserError(f"{where}: a low/high axis needs study.sampler = 'tpe' or 'random' "
                        "and study.n_trials > 0")
    description = study.get("description", "")
    if not isinstance(description, str):
        raise UserError(f"{where}: study.description must be a string, got {description!r}")
    metric = _pick(study, "metric", METRICS, "val_accuracy", where)
    if metric.startswith("artifact_") and not writes_artifact(baseline):
        raise UserError(f"{where}: study.metric {metric!r} is measured on a compressed "
                        "artifact; set baseline.artifact = true (or prune/quantize/dst_sparsity)")
    return StudySpec(
        name=name, baseline=baseline, axes=parsed,
        seeds=_parse_seeds(study.get("seeds", 3), where), description=description,
        metric=metric, direction=_pick(study, "direction", DIRECTIONS, "maximize", where),
        mode=_pick(study, "mode", MODES, "one-at-a-time", where),
        sampler=sampler, pruner=_pick(study, "pruner", PRUNERS, "none", where),
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
    if str(_TRAIN_FIELDS[axis.name].type) != "float" or len(axis.choices) < 2:
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


STUDY_SUFFIXES = (".toml", ".yaml", ".yml")
BUILTIN_DIR = Path(__file__).resolve().parent.parent / "studies"


def builtin_studies() -> dict[str, Path]:
    """Built-in study names -> files in studies/."""
    if not BUILTIN_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(BUILTIN_DIR.iterdir()) if p.suffix in STUDY_SUFFIXES}


def resolve_study_path(name_or_path: str) -> Path:
    """A built-in study name or a path to a study file."""
    path = Path(name_or_path)
    if path.suffix in (".toml", ".yaml", ".yml"):
        if not path.is_file():
            raise UserError(f"{path}: study file not found")
        return path
    found = builtin_studies().get(name_or_path)
    if found is None:
        known = ", ".join(builtin_studies()) or "none"
        raise UserError(f"unknown study {name_or_path!r}; built-in studies: {known} "
                        "(or give a path to a .toml/.yaml file)")
    return found


def load_study(name_or_path: str) -> StudySpec:
    """Read and validate a study by built-in name or path."""
    path = resolve_study_path(name_or_path)
    return parse_study(read_document(path), str(path))


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
        merged = {**dict(spec.overrides), **given}
        out = replace(out, baseline=cfg, overrides=tuple(sorted(merged.items())))
    if seeds is not None:
        if seeds < 1:
            raise UserError(f"--seeds must be >= 1, got {seeds}")
        out = replace(out, seeds=tuple(range(seeds)))
    return out
