"""TrainConfig: everything one training run depends on except the seed (a plain type)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any


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


# Keys checked against each other (swa_epochs <= epochs): a study that combines axes (factorial,
# or a sampled search) must have every combination of their values checked, not each alone.
JOINT_KEYS = ("epochs", "swa_epochs")
# Counts of epochs that may not exceed ``epochs``: --epochs shortening a study lowers them.
EPOCH_BOUND = ("swa_epochs",)


def writes_artifact(cfg: TrainConfig) -> bool:
    """True when a run of ``cfg`` compresses its model or asks for an artifact."""
    return cfg.artifact or cfg.prune > 0 or cfg.quantize != "fp32" or cfg.dst_sparsity > 0


def is_int_field(name: str) -> bool:
    """True when TrainConfig's ``name`` holds an integer (an int range, not a float one)."""
    return str(TRAIN_FIELDS[name].type) == "int"
