"""fit(config, seed) -> FitResult: one training run. Knows nothing of Optuna or storage.

Batches are cut from whole in-memory uint8 tensors (no Dataset, no DataLoader, no per-sample
Python), augmented as a batch on tensors, laid out channels-last (as is the model while it trains),
and evaluated under inference_mode.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from ablation.analysis.classification import accuracy, confusion_matrix, macro_f1
from ablation.analysis.records import EpochRecord, Metrics
from ablation.data.datasets import Splits, make_splits
from ablation.models import build_model
from ablation.spec.config import TrainConfig
from ablation.training.batches import Batcher, batch_indices
from ablation.training.losses import make_loss
from ablation.training.optim import make_optimizer
from ablation.training.precision import autocast
from ablation.training.schedules import lr_lambda
from ablation.training.sparse import make_step_hook
from ablation.training.swa import Averager, swa_lr_lambda

EVAL_BATCH = 1024


# NHWC: oneDNN's convolutions run 1.3-1.5x faster on these small CNNs than in NCHW, in bf16 and in
# fp32 (docs/results-speed.md). The model trains in this layout and is handed back contiguous.
LAYOUT = torch.channels_last


@dataclass
class FitResult:
    """Metrics, learning curve and the trained model."""

    metrics: Metrics
    curve: tuple[EpochRecord, ...]
    model: nn.Module


EpochCallback = Callable[[EpochRecord], None]


class Checkpoint(Protocol):
    """Per-epoch training state on disk (ablation.checkpoint.EpochCheckpoint is the real one).

    ``extras`` are the run's stateful helpers (objects with state_dict/load_state_dict).
    """

    def load(self, model: nn.Module, opt: torch.optim.Optimizer,
             sched: torch.optim.lr_scheduler.LRScheduler, gen: torch.Generator,
             extras: Mapping[str, Any] | None = None,
             ) -> tuple[list[EpochRecord], float] | None: ...

    def save(self, model: nn.Module, opt: torch.optim.Optimizer,
             sched: torch.optim.lr_scheduler.LRScheduler, gen: torch.Generator,
             curve: list[EpochRecord], train_seconds: float,
             extras: Mapping[str, Any] | None = None) -> None: ...


class StepHook(Protocol):
    """Something to do after every optimizer step (dynamic sparse training re-masks weights)."""

    def after_step(self) -> None: ...


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batcher: Batcher,
             loss_fn: nn.Module, precision: str = "fp32",
             layout: torch.memory_format = torch.contiguous_format) -> tuple[float, torch.Tensor]:
    """Mean loss and predicted labels over a whole split, in inference mode.

    ``layout`` is the batches' memory format: LAYOUT while training, contiguous for a finished
    model, so the final figures are the ones a reloaded model reproduces bit for bit.
    """
    model.eval()
    total, preds = 0.0, []
    with torch.inference_mode(), autocast(precision):
        for i in range(0, len(x), EVAL_BATCH):
            logits = model(batcher(x[i:i + EVAL_BATCH]).contiguous(memory_format=layout)).float()
            total += float(loss_fn(logits, y[i:i + EVAL_BATCH])) * len(logits)
            preds.append(logits.argmax(1))
    pred = torch.cat(preds) if preds else torch.empty(0, dtype=torch.long)
    return total / max(1, len(x)), pred


def state_dict_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``: the size of the saved weights file."""
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getbuffer().nbytes


def _train_epoch(model: nn.Module, opt: torch.optim.Optimizer,
                 sched: torch.optim.lr_scheduler.LRScheduler, data: Splits, batcher: Batcher,
                 loss_fn: nn.Module, config: TrainConfig,
                 gen: torch.Generator, hook: StepHook | None = None) -> tuple[float, float]:
    model.train()
    loss_sum = torch.zeros(())
    correct = torch.zeros((), dtype=torch.long)
    seen = 0
    for idx in batch_indices(len(data.train_x), config.batch_size, gen):
        x = batcher(data.train_x[idx], gen).contiguous(memory_format=LAYOUT)
        y = data.train_y[idx]
        with autocast(config.precision):
            logits = model(x)
        loss = loss_fn(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        opt.step()
        if hook is not None:
            hook.after_step()
        sched.step()
        loss_sum += loss.detach() * len(idx)
        correct += (logits.detach().argmax(1) == y).sum()
        seen += len(idx)
    return float(loss_sum) / seen, float(correct) / seen


def fit(config: TrainConfig, seed: int, *, data_dir: Path = Path("storage/datasets"),
        on_epoch: EpochCallback | None = None, checkpoint: Checkpoint | None = None) -> FitResult:
    """Train ``config`` with ``seed`` and measure the result on the test set.

    ``on_epoch`` sees every epoch's record and may raise to stop the run (pruning).
    ``checkpoint`` is loaded before the first epoch (a resumed run replays the stored epochs
    through ``on_epoch``) and saved after every epoch.
    """
    data = make_splits(config.dataset, data_dir, config.val_fraction, config.train_limit)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build_model(config.model, data.input_shape, data.n_classes, config.activation,
                        width=config.width, blocks=config.blocks, dropout=config.dropout)
    model = model.to(memory_format=LAYOUT)
    opt = make_optimizer(config.optimizer, model.parameters(), config.lr, config.weight_decay,
                         config.momentum)
    steps = math.ceil(len(data.train_x) / config.batch_size)
    base = lr_lambda(config.schedule, steps * config.epochs, steps, config.warmup)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, swa_lr_lambda(
        base, config.lr, config.swa_lr, config.swa_epochs, config.epochs, steps))
    hook = make_step_hook(config, model, steps * config.epochs, gen)
    averager = Averager(model, config.swa_epochs, config.epochs) if config.swa_epochs else None
    batcher = Batcher.for_data(data.train_x, config.augment)
    loss_fn = make_loss(config, data.train_y, data.n_classes)
    eval_loss = nn.CrossEntropyLoss()  # reported losses are plain cross-entropy everywhere
    curve: list[EpochRecord] = []
    train_seconds = 0.0
    extras: dict[str, Any] = {}  # helpers whose state a checkpoint must carry
    if hook is not None:
        extras["sparsity"] = hook
    if averager is not None:
        extras["swa"] = averager
    if checkpoint is not None and (resumed := checkpoint.load(model, opt, sched, gen, extras)):
        curve, train_seconds = resumed
        for record in curve:  # the resuming trial's curve is complete from epoch 1
            if on_epoch is not None:
                on_epoch(record)
    for epoch in range(len(curve) + 1, config.epochs + 1):
        t0 = time.perf_counter()
        tr_loss, tr_acc = _train_epoch(model, opt, sched, data, batcher, loss_fn, config, gen,
                                       hook)
        if averager is not None:
            averager.after_epoch(epoch, model)
        train_seconds += time.perf_counter() - t0
        val_loss, val_pred = evaluate(model, data.val_x, data.val_y, batcher, eval_loss,
                                      config.precision, LAYOUT)
        record = EpochRecord(epoch, tr_loss, tr_acc, val_loss, accuracy(data.val_y, val_pred),
                             opt.param_groups[0]["lr"], train_seconds)
        curve.append(record)
        if checkpoint is not None:
            checkpoint.save(model, opt, sched, gen, curve, train_seconds, extras)
        if on_epoch is not None:
            on_epoch(record)
    if averager is not None:
        t0 = time.perf_counter()
        model = averager.finish(batcher(data.train_x[i:i + EVAL_BATCH])
                                for i in range(0, len(data.train_x), EVAL_BATCH))
        train_seconds += time.perf_counter() - t0
    model = model.to(memory_format=torch.contiguous_format)
    metrics = measure(model, data, batcher, eval_loss, config, train_seconds, curve)
    return FitResult(metrics, tuple(curve), model)


def measure(model: nn.Module, data: Splits, batcher: Batcher, loss_fn: nn.Module,
            config: TrainConfig, train_seconds: float, curve: list[EpochRecord]) -> Metrics:
    """Test-set metrics, timing and size of a trained model."""
    t0 = time.perf_counter()
    test_loss, pred = evaluate(model, data.test_x, data.test_y, batcher, loss_fn, config.precision)
    infer = time.perf_counter() - t0
    cm = confusion_matrix(data.test_y, pred, data.n_classes)
    last = curve[-1] if curve else None
    return Metrics(
        test_loss=test_loss, test_accuracy=accuracy(data.test_y, pred), macro_f1=macro_f1(cm),
        val_loss=last.val_loss if last else math.nan,
        val_accuracy=last.val_accuracy if last else math.nan,
        train_seconds=train_seconds, infer_seconds=infer,
        infer_ms_per_image=1000 * infer / max(1, len(data.test_x)),
        params=sum(p.numel() for p in model.parameters()), state_bytes=state_dict_bytes(model),
        epochs_run=len(curve), confusion=tuple(tuple(int(v) for v in row) for row in cm.tolist()))
