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

import tomllib

from ablation.errors import UserError

SCHEDULES = ("onecycle", "cosine", "step", "constant")
PRECISIONS = ("fp32", "bf16")
LOSSES = ("cross-entropy", "class-weighted", "focal")
METRICS = ("val_accuracy", "val_loss", "test_accuracy", "test_loss", "macro_f1",
           "train_seconds")
DIRECTIONS = ("maximize", "minimize")
MODES = ("one-at-a-time", "factorial")
SAMPLERS = ("grid", "tpe", "random")
PRUNERS = ("none", "median", "successive-halving")


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
    dropout: float = 0.1
    optimizer: str = "nadam"
    lr: float = 2e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    # 128, not 256: on the 1.3k-image digits set 256 leaves 6 steps per epoch and a 4-epoch run
    # stays at chance (tests/test_training.py); batch 256 on MNIST: docs/results-speed.md.
    batch_size: int = 128
    epochs: int = 10
    schedule: str = "onecycle"
    warmup: float = 0.2  # share of the steps spent warming up (onecycle)
    grad_clip: float = 0.0  # max global grad norm; 0 turns clipping off (study 000 clipped)
    label_smoothing: float = 0.0
    loss: str = "cross-entropy"
    augment: bool = False
    val_fraction: float = 0.1
    train_limit: int = 0  # use only the first N training images; 0 means all
    precision: str = "bf16"  # CPU autocast; ~2x faster per epoch, same accuracy (results-speed.md)

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

    @property
    def storage_name(self) -> str:
        """Name in storage: the study's name plus any command-line overrides of the baseline."""
        if not self.overrides:
            return self.name
        inner = ",".join(f"{k}={v}" for k, v in self.overrides)
        return f"{self.name}[{inner}]"


_TRAIN_FIELDS = {f.name: f for f in fields(TrainConfig)}
_STUDY_KEYS = {"name", "description", "metric", "direction", "seeds", "mode", "sampler",
               "pruner", "n_trials"}


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


def make_train_config(raw: Mapping[str, Any], where: str,
                      base: TrainConfig | None = None) -> TrainConfig:
    """Validate ``raw`` (keys of TrainConfig) on top of ``base`` into a TrainConfig."""
    unknown = sorted(set(raw) - set(_TRAIN_FIELDS))
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
    extra = sorted(set(raw) - {"choices", "low", "high", "log"})
    if extra:
        raise UserError(f"{at}: unknown key {extra[0]!r}; allowed: choices, low, high, log")
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
        if raw < 1:
            raise UserError(f"{where}: study.seeds must be >= 1, got {raw}")
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
    unknown = sorted(set(doc) - {"study", "baseline", "axes"})
    if unknown:
        raise UserError(f"{where}: unknown section {unknown[0]!r}; allowed: study, baseline, axes")
    study, base, axes = (doc.get(k, {}) for k in ("study", "baseline", "axes"))
    for key, part in (("study", study), ("baseline", base), ("axes", axes)):
        if not isinstance(part, Mapping):
            raise UserError(f"{where}: [{key}] must be a table")
    bad = sorted(set(study) - _STUDY_KEYS)
    if bad:
        raise UserError(f"{where}: unknown key study.{bad[0]!r}; allowed: "
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
    return StudySpec(
        name=name, baseline=baseline, axes=parsed,
        seeds=_parse_seeds(study.get("seeds", 3), where),
        description=str(study.get("description", "")),
        metric=_pick(study, "metric", METRICS, "val_accuracy", where),
        direction=_pick(study, "direction", DIRECTIONS, "maximize", where),
        mode=_pick(study, "mode", MODES, "one-at-a-time", where),
        sampler=sampler, pruner=_pick(study, "pruner", PRUNERS, "none", where),
        n_trials=n_trials, source=where)


def read_document(path: Path) -> dict[str, Any]:
    """Parse a .toml, .yaml or .yml file safely; syntax errors become one-line UserErrors."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read study file ({exc.strerror})") from None
    if path.suffix == ".toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UserError(f"{path}: invalid TOML: {exc}") from None
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" at line {mark.line + 1}" if mark is not None else ""
            raise UserError(f"{path}: invalid YAML{line}: "
                            f"{getattr(exc, 'problem', None) or exc}") from None
        if not isinstance(doc, dict):
            raise UserError(f"{path}: a study file must be a mapping of sections")
        return doc
    raise UserError(f"{path}: study files end in .toml, .yaml or .yml")


BUILTIN_DIR = Path(__file__).resolve().parent.parent / "studies"


def builtin_studies() -> dict[str, Path]:
    """Built-in study names -> files in studies/."""
    if not BUILTIN_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.toml"))}


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
