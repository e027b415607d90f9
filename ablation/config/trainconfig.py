"""TrainConfig: everything one training run depends on except the seed, and its checks."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from ablation.config.limits import INT_CAPS, INT_MAX, MAX_NAME, check_float, check_text, shown
from ablation.errors import UserError

SCHEDULES = ("onecycle", "cosine", "step", "constant")


PRECISIONS = ("auto", "fp32", "bf16")


LOSSES = ("cross-entropy", "class-weighted", "focal")


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
    # "auto": bf16 autocast where the CPU computes bf16 natively (~2x faster per epoch there, same
    # accuracy; docs/results-speed.md), fp32 elsewhere (training/precision.py says why).
    precision: str = "auto"
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


TRAIN_FIELDS = {f.name: f for f in fields(TrainConfig)}


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
    from ablation.data.datasets import DATASETS
    from ablation.models import MODELS
    from ablation.models.layers import ACTIVATIONS
    from ablation.training.optim import OPTIMIZERS

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
    unknown = sorted(set(raw) - set(TRAIN_FIELDS), key=str)
    if unknown:
        raise UserError(f"{where}: unknown key {unknown[0]!r}; allowed: "
                        f"{', '.join(TRAIN_FIELDS)}")
    values = {k: coerce_value(k, v, where) for k, v in raw.items()}
    cfg = replace(base or TrainConfig(), **values)
    _check_train_values(cfg, where)
    return cfg
