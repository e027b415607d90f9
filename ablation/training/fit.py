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
from ablation.training.precision import autocast, resolve_precision
from ablation.training.schedules import lr_lambda
from ablation.training.sparse import make_step_hook
from ablation.training.swa import Averager, swa_lr_lambda

EVAL_BATCH = 1024
EVAL_LOSS = nn.CrossEntropyLoss()  # reported losses are plain cross-entropy everywhere


# NHWC: oneDNN's convolutions run 1.3-1.5x faster on these small CNNs than in NCHW, in bf16 and in
# fp32 (docs/results-speed.md). The model trains in this layout and is handed back contiguous.
LAYOUT = torch.channels_last


@dataclass
class FitResult:
    """Metrics, learning curve and the trained model, with what later steps need of the run.

    ``precision`` is what actually ran ("fp32" or "bf16"); ``data`` and ``batcher`` are the
    splits and the input normalisation the model was trained with, so a post-step (compression)
    need not load the data set again. ``predictions`` are the predicted test labels in test-set
    order and ``labels`` the true ones; the engine stores them (compactly) so the statistics
    can tell test-set noise from training noise. A custom trainer may leave any of these None.
    """

    metrics: Metrics
    curve: tuple[EpochRecord, ...]
    model: nn.Module
    precision: str = "fp32"
    data: Splits | None = None
    batcher: Batcher | None = None
    predictions: torch.Tensor | None = None
    labels: torch.Tensor | None = None


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


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer,
                sched: torch.optim.lr_scheduler.LRScheduler, data: Splits, batcher: Batcher,
                loss_fn: nn.Module, config: TrainConfig, gen: torch.Generator,
                precision: str, hook: StepHook | None = None) -> tuple[float, float]:
    """One pass over the training split; returns its mean loss and accuracy."""
    model.train()
    loss_sum = torch.zeros(())
    correct = torch.zeros((), dtype=torch.long)
    seen = 0
    for idx in batch_indices(len(data.train_x), config.batch_size, gen):
        x = batcher(data.train_x[idx], gen).contiguous(memory_format=LAYOUT)
        y = data.train_y[idx]
        with autocast(precision):
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


@dataclass
class _Run:
    """What one training run works with; built in a fixed order, since the RNG draws of model
    initialisation, sparsity masks and batch order depend on it."""

    config: TrainConfig
    data: Splits
    model: nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    gen: torch.Generator
    hook: StepHook | None
    averager: Averager | None
    batcher: Batcher
    loss_fn: nn.Module
    precision: str

    @property
    def extras(self) -> dict[str, Any]:
        """The run's stateful helpers, which a checkpoint must carry."""
        found = {"sparsity": self.hook, "swa": self.averager}
        return {k: v for k, v in found.items() if v is not None}


def _start(config: TrainConfig, seed: int, data: Splits) -> _Run:
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
    return _Run(config, data, model, opt, sched, gen, hook, averager,
                Batcher.for_data(data.train_x, config.augment),
                make_loss(config, data.train_y, data.n_classes),
                resolve_precision(config.precision))


def _epoch(run: _Run, epoch: int, seconds_before: float) -> EpochRecord:
    """Train one epoch and measure the validation split (its time is not training time)."""
    t0 = time.perf_counter()
    tr_loss, tr_acc = train_epoch(run.model, run.opt, run.sched, run.data, run.batcher,
                                  run.loss_fn, run.config, run.gen, run.precision, run.hook)
    if run.averager is not None:
        run.averager.after_epoch(epoch, run.model)
    seconds = seconds_before + time.perf_counter() - t0
    val_loss, val_pred = evaluate(run.model, run.data.val_x, run.data.val_y, run.batcher,
                                  EVAL_LOSS, run.precision, LAYOUT)
    return EpochRecord(epoch, tr_loss, tr_acc, val_loss, accuracy(run.data.val_y, val_pred),
                       run.opt.param_groups[0]["lr"], seconds)


def fit(config: TrainConfig, seed: int, *, data_dir: Path = Path("storage/datasets"),
        on_epoch: EpochCallback | None = None, checkpoint: Checkpoint | None = None) -> FitResult:
    """Train ``config`` with ``seed`` and measure the result on the test set.

    ``on_epoch`` sees every epoch's record and may raise to stop the run (pruning).
    ``checkpoint`` is loaded before the first epoch (a resumed run replays the stored epochs
    through ``on_epoch``) and saved after every epoch.
    """
    run = _start(config, seed, make_splits(config.dataset, data_dir, config.val_fraction,
                                           config.train_limit))
    curve: list[EpochRecord] = []
    seconds = 0.0
    if checkpoint is not None and (resumed := checkpoint.load(
            run.model, run.opt, run.sched, run.gen, run.extras)):
        curve, seconds = resumed
    for record in curve:  # the resuming trial's curve is complete from epoch 1
        if on_epoch is not None:
            on_epoch(record)
    for epoch in range(len(curve) + 1, config.epochs + 1):
        record = _epoch(run, epoch, seconds)
        seconds = record.seconds
        curve.append(record)
        if checkpoint is not None:
            checkpoint.save(run.model, run.opt, run.sched, run.gen, curve, seconds, run.extras)
        if on_epoch is not None:
            on_epoch(record)
    model = run.model
    if run.averager is not None:
        t0 = time.perf_counter()
        model = run.averager.finish(run.batcher(run.data.train_x[i:i + EVAL_BATCH])
                                    for i in range(0, len(run.data.train_x), EVAL_BATCH))
        seconds += time.perf_counter() - t0
    model = model.to(memory_format=torch.contiguous_format)
    metrics, pred = measure(model, run.data, run.batcher, run.precision, seconds, curve)
    return FitResult(metrics, tuple(curve), model, run.precision, run.data, run.batcher, pred,
                     run.data.test_y)


def measure(model: nn.Module, data: Splits, batcher: Batcher, precision: str,
            train_seconds: float, curve: list[EpochRecord]) -> tuple[Metrics, torch.Tensor]:
    """Test-set metrics, timing and size of a trained model, in the precision it trained in,
    and its predicted test labels."""
    t0 = time.perf_counter()
    test_loss, pred = evaluate(model, data.test_x, data.test_y, batcher, EVAL_LOSS, precision)
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
        epochs_run=len(curve), confusion=tuple(tuple(int(v) for v in row) for row in cm.tolist())
    ), pred
