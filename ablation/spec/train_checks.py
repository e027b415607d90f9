"""TrainConfig values checked at the edge: types, ranges, and names against the registries."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ablation.compression.transforms import PRUNE_SCOPES, QUANTIZE_MODES
from ablation.config.limits import INT_CAPS, INT_MAX, MAX_NAME, check_float, check_text, shown
from ablation.config.trainconfig import TRAIN_FIELDS, TrainConfig
from ablation.data.datasets import DATASETS
from ablation.errors import UserError
from ablation.models import MODELS
from ablation.models.layers import ACTIVATIONS
from ablation.registry import Registry
from ablation.training.losses import LOSSES
from ablation.training.optim import OPTIMIZERS
from ablation.training.precision import PRECISIONS
from ablation.training.schedules import SCHEDULES

# The TrainConfig keys that name a registered component, and each one's registry.
NAMED: dict[str, Registry[Any]] = {
    "dataset": DATASETS, "model": MODELS, "activation": ACTIVATIONS, "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES, "precision": PRECISIONS, "loss": LOSSES, "quantize": QUANTIZE_MODES}


def _type_name(tp: Any) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[tp]


def coerce_value(key: str, value: Any, where: str) -> Any:
    """Check one TrainConfig value's type (ints are accepted for floats)."""
    tp = {"int": int, "float": float, "bool": bool, "str": str}[str(TRAIN_FIELDS[key].type)]
    ok = isinstance(value, tp) and not (tp is int and isinstance(value, bool))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise UserError(f"{where}: {key} must be {_type_name(tp)}, got {shown(value)}")
    if tp is float:
        check_float(value, where, key)
    elif tp is int:
        cap = INT_CAPS.get(key, INT_MAX)
        if value > cap:
            raise UserError(f"{where}: {key} must be at most {cap}, got {shown(value)}")
        if value < -INT_MAX:
            raise UserError(f"{where}: {key} must be >= 0, got {shown(value)}")
    elif tp is str:
        check_text(value, where, key, MAX_NAME)
    return value


def _check_train_values(cfg: TrainConfig, where: str) -> None:
    """Range and name checks for a complete TrainConfig."""
    for key, registry in NAMED.items():
        name = getattr(cfg, key)
        if name not in registry:
            raise UserError(f"{where}: unknown {key} {name!r}; allowed: "
                            f"{', '.join(registry.names())}")
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
    if cfg.prune_scope not in PRUNE_SCOPES:
        raise UserError(f"{where}: prune_scope must be one of {', '.join(PRUNE_SCOPES)}, "
                        f"got {cfg.prune_scope!r}")
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


def make_train_config(raw: Mapping[str, Any], where: str,
                      base: TrainConfig | None = None) -> TrainConfig:
    """Validate ``raw`` (keys of TrainConfig) on top of ``base`` into a TrainConfig."""
    unknown = sorted(set(raw) - set(TRAIN_FIELDS), key=str)
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r}; allowed: "
                        f"{', '.join(TRAIN_FIELDS)}")
    values = {k: coerce_value(k, v, where) for k, v in raw.items()}
    cfg = replace(base or TrainConfig(), **values)
    _check_train_values(cfg, where)
    return cfg
