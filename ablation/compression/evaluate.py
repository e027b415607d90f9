"""After training: compress a model, write its artifact, load the file back and score *that*.

Every figure here comes from the reloaded file, never from the in-memory model: bytes are
``os.path.getsize`` of the artifact, accuracy and latency are measured on the model rebuilt from it.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn
from torch.optim.swa_utils import update_bn

from ablation.analysis.classification import accuracy
from ablation.compression import artifact
from ablation.compression.transforms import make_permanent, prune_model, quantize_model, sparsity
from ablation.config.trainconfig import TrainConfig, writes_artifact
from ablation.data.datasets import Splits, make_splits
from ablation.training.batches import Batcher
from ablation.training.fit import FitResult, evaluate, train_epoch
from ablation.training.optim import make_optimizer
from ablation.training.precision import resolve_precision

FINETUNE_LR_FACTOR = 0.1  # fine-tune a pruned model at a tenth of the training LR, constant


@dataclass(frozen=True)
class CompressionResult:
    """Measurements of one compressed artifact, taken on the model reloaded from disk."""

    artifact_bytes: int  # os.path.getsize of the artifact
    fp32_bytes: int  # the same model as a dense fp32 file in the same format
    artifact_ratio: float  # artifact_bytes / fp32_bytes
    sparsity: float  # share of zero conv/linear weights in the reloaded model
    artifact_test_accuracy: float
    # The reloaded artifact on the validation split: what a search over compression selects on
    # (NaN without a validation split).
    artifact_val_accuracy: float
    latency_ms_b1: float  # median CPU milliseconds per batch of 1
    latency_ms_b256: float  # median CPU milliseconds per batch of 256
    # Which kernels the reloaded model ran on (artifact.LoadedArtifact.kernels): "fp32",
    # "int8 (x86 kernels)", or "fp32 (dequantized int8): <why>" where int8 kernels are missing.
    kernels: str = "fp32"


def wants_artifact(config: TrainConfig) -> bool:
    """True when the configuration asks for compression or for an artifact."""
    return writes_artifact(config)


def finetune(model: nn.Module, data: Splits, batcher: Batcher, config: TrainConfig,
             seed: int) -> None:
    """``config.prune_finetune`` epochs at a constant, lower LR; attached masks stay fixed."""
    opt = make_optimizer(config.optimizer, model.parameters(), config.lr * FINETUNE_LR_FACTOR,
                         config.weight_decay, config.momentum)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    gen = torch.Generator().manual_seed(seed + 1_000_003)  # not the training run's batch order
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    plain = replace(config, dst_sparsity=0.0)
    for _ in range(config.prune_finetune):
        train_epoch(model, opt, sched, data, batcher, loss_fn, plain, gen,
                    resolve_precision(config.precision))


BN_BATCH = 512  # images per forward pass when BatchNorm statistics are recomputed


def recompute_batchnorm(model: nn.Module, data: Splits, batcher: Batcher) -> None:
    """BatchNorm running statistics recomputed over the training images (no augmentation).

    Pruning shrinks each layer's outputs, so the statistics collected while training no longer
    match them: on MNIST (resnet-lite, 2 epochs, 50% of every conv and linear weight, no
    fine-tuning) the pruned model scored 73.1% with the old statistics and 97.8% with recomputed
    ones, against 98.9% unpruned (docs/compression.md).
    """
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return
    with torch.no_grad():
        update_bn((batcher(data.train_x[i:i + BN_BATCH])
                   for i in range(0, len(data.train_x), BN_BATCH)), model)


def compress_trained(model: nn.Module, config: TrainConfig, seed: int, data: Splits,
                     batcher: Batcher) -> nn.Module:
    """A compressed copy of ``model``: pruned, its BatchNorm statistics recomputed, fine-tuned
    with masks, made permanent, quantized."""
    out = copy.deepcopy(model)
    # A dynamically sparse model already has dst_sparsity zeros per layer; pruning less than that
    # would leave those zeros unmasked, and fine-tuning would regrow them.
    ratio = max(config.prune, config.dst_sparsity) if config.prune > 0 else 0.0
    prune_model(out, ratio, config.prune_scope)
    if ratio > 0:
        recompute_batchnorm(out, data, batcher)
    if ratio > 0 and config.prune_finetune > 0:
        finetune(out, data, batcher, config, seed)
    make_permanent(out)
    return quantize_model(out.eval(), config.quantize)


def latency_ms(model: nn.Module, x: torch.Tensor, repeats: int) -> float:
    """Median milliseconds of one forward pass over ``x`` (after one warm-up pass)."""
    times = []
    with torch.inference_mode():
        model(x)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


CALIBRATION_IMAGES = 512  # training images whose activation ranges an int8 artifact stores
CALIBRATION_BATCH = 256


def calibration_ranges(small: nn.Module, data: Splits, batcher: Batcher
                       ) -> artifact.Calibration:
    """Activation ranges of ``small`` over the first training images (normalised, no
    augmentation), for the int8 kernels of the reloaded file."""
    from ablation.compression.int8_kernels import calibrate

    x = data.train_x[:CALIBRATION_IMAGES]
    # int8 kernels are CPU kernels: the ranges are measured on the CPU, whatever the training
    # device was.
    cpu = copy.deepcopy(small).cpu()
    return calibrate(cpu, [batcher(x[i:i + CALIBRATION_BATCH]).cpu()
                           for i in range(0, len(x), CALIBRATION_BATCH)])


def measure_artifact(small: nn.Module, meta: dict[str, object], mode: str, path: Path,
                     data: Splits, batcher: Batcher, int8: bool = True) -> CompressionResult:
    """Write ``small`` to ``path`` as ``mode``, reload it and measure the reloaded model.

    ``int8=False`` runs an int8 file dequantized in fp32 (the comparison in the benchmark).
    """
    calibration = calibration_ranges(small, data, batcher) if mode == "int8" else None
    artifact.write(path, small, meta, mode, calibration=calibration)
    size = os.path.getsize(path)
    fp32 = len(artifact.encode(small.state_dict(), meta, "fp32", "never",
                               artifact.weight_names(small)))
    reloaded = artifact.load(path, int8)
    loaded = reloaded.model
    _, pred = evaluate(loaded, data.test_x, data.test_y, batcher, nn.CrossEntropyLoss())
    val_acc = float("nan")
    if len(data.val_y):
        _, val_pred = evaluate(loaded, data.val_x, data.val_y, batcher, nn.CrossEntropyLoss())
        val_acc = accuracy(data.val_y, val_pred)
    x = batcher(data.test_x[:256])
    return CompressionResult(
        artifact_bytes=size, fp32_bytes=fp32, artifact_ratio=size / fp32,
        sparsity=sparsity(reloaded.reference), artifact_test_accuracy=accuracy(data.test_y, pred),
        artifact_val_accuracy=val_acc,
        latency_ms_b1=latency_ms(loaded, x[:1], 50), latency_ms_b256=latency_ms(loaded, x, 5),
        kernels=reloaded.kernels)


def artifact_meta(config: TrainConfig, data: Splits, batcher: Batcher) -> dict[str, object]:
    """Build arguments plus the input normalisation, so the file is usable on its own."""
    meta: dict[str, object] = artifact.model_meta(config, data.input_shape, data.n_classes)
    meta["mean"] = [round(float(v), 6) for v in batcher.mean.flatten()]
    meta["std"] = [round(float(v), 6) for v in batcher.std.flatten()]
    meta["classes"] = list(data.classes)
    meta["config"] = dataclasses.asdict(config)
    return meta


def compress_and_evaluate(fitted: FitResult, config: TrainConfig, seed: int, *, data_dir: Path,
                          path: Path) -> CompressionResult:
    """Compress a fitted model as ``config`` says, write it to ``path``, reload it and measure it.

    Uses the splits and normaliser the model was trained with; a custom trainer that does not
    hand them back gets them rebuilt from the data set (the split is deterministic).
    """
    data = fitted.data or make_splits(config.dataset, data_dir, config.val_fraction,
                                      config.train_limit)
    batcher = fitted.batcher or Batcher.for_data(data.train_x, config.augment)
    small = compress_trained(fitted.model, config, seed, data, batcher)
    return measure_artifact(small, artifact_meta(config, data, batcher), config.quantize, path,
                            data, batcher)
