"""fit(config, seed) -> FitResult: one training run. Knows nothing of Optuna or storage.

Batches are cut from whole in-memory uint8 tensors (no Dataset, no DataLoader, no per-sample
Python), augmented as a batch on tensors, laid out channels-last (as is the model while it trains),
and evaluated under inference_mode. On a GPU the uint8 splits go to it once and every batch is
cut, normalised and augmented there; loss and accuracy add up on the device and are read once
per epoch (training/device.py picks device, precision and kernel settings).
"""

from __future__ import annotations

import dataclasses
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
from ablation.config.devices import DEVICES
from ablation.config.trainconfig import TrainConfig
from ablation.data.datasets import Splits, make_splits
from ablation.models import build_model
from ablation.training.batches import Batcher, batch_indices
from ablation.training.device import (
    Machine,
    channels_last,
    device_precision,
    kernel_settings,
    machine_for,
    pick_device,
    synchronize,
)
from ablation.training.losses import make_loss
from ablation.training.optim import make_optimizer
from ablation.training.precision import autocast
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

    ``precision`` is what actually ran ("fp32", "bf16", or "fp16" on a GPU without bf16);
    ``data`` and ``batcher`` (on the CPU, whatever the device) are the
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
    device: str = "cpu"  # where it trained and its latency was measured; model, data: CPU


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
    """Mean loss and predicted labels (on ``x``'s device) over a whole split, in inference mode.

    ``layout`` is the batches' memory format: LAYOUT while training, contiguous for a finished
    model, so the final figures are the ones a reloaded model reproduces bit for bit.
    """
    model.eval()
    # Summed on the device (read once at the end), in float64 as Python's float sum was, where
    # the device has float64 (MPS has not).
    total = torch.zeros((), device=x.device, dtype=torch.float64
                        if DEVICES.get(x.device.type).float64 else torch.float32)
    preds = []
    with torch.inference_mode(), autocast(precision, x.device.type):
        for i in range(0, len(x), EVAL_BATCH):
            logits = model(batcher(x[i:i + EVAL_BATCH]).contiguous(memory_format=layout)).float()
            total += loss_fn(logits, y[i:i + EVAL_BATCH]).to(total.dtype) * len(logits)
            preds.append(logits.argmax(1))
    pred = torch.cat(preds) if preds else torch.empty(0, dtype=torch.long, device=x.device)
    return float(total) / max(1, len(x)), pred


def state_dict_bytes(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``: the size of the saved weights file."""
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getbuffer().nbytes


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer,
                sched: torch.optim.lr_scheduler.LRScheduler, data: Splits, batcher: Batcher,
                loss_fn: nn.Module, config: TrainConfig, gen: torch.Generator,
                precision: str, hook: StepHook | None = None, *,
                scaler: torch.amp.GradScaler | None = None,
                layout: torch.memory_format = LAYOUT) -> tuple[float, float]:
    """One pass over the training split (on its device); returns its mean loss and accuracy.

    ``scaler`` scales fp16 losses (GPUs without bf16); nothing is read back to the host until
    the epoch's sums at the end.
    """
    model.train()
    where = data.train_x.device
    loss_sum = torch.zeros((), device=where)
    correct = torch.zeros((), dtype=torch.long, device=where)
    seen = 0
    for idx in batch_indices(len(data.train_x), config.batch_size, gen):
        x = batcher(data.train_x[idx], gen).contiguous(memory_format=layout)
        y = data.train_y[idx]
        with autocast(precision, where.type):
            logits = model(x)
        loss = loss_fn(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        _backward_and_step(loss, model, opt, config.grad_clip, scaler)
        if hook is not None:
            hook.after_step()
        sched.step()
        loss_sum += loss.detach() * len(idx)
        correct += (logits.detach().argmax(1) == y).sum()
        seen += len(idx)
    return float(loss_sum) / seen, float(correct) / seen


def _backward_and_step(loss: torch.Tensor, model: nn.Module, opt: torch.optim.Optimizer,
                       grad_clip: float, scaler: torch.amp.GradScaler | None) -> None:
    if scaler is None:
        loss.backward()
        if grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        return
    scaler.scale(loss).backward()
    if grad_clip > 0:
        scaler.unscale_(opt)  # clip the true gradients, not the scaled ones
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(opt)  # skipped (and the scale lowered) where fp16 gradients overflowed
    scaler.update()


@dataclass
class _Run:
    """What one training run works with; built in a fixed order, since the RNG draws of model
    initialisation, sparsity masks and batch order depend on it."""

    config: TrainConfig
    data: Splits  # on the device
    model: nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    gen: torch.Generator  # on the device: batch order and augmentation are drawn there
    hook: StepHook | None
    averager: Averager | None
    batcher: Batcher
    loss_fn: nn.Module
    precision: str
    device: torch.device
    layout: torch.memory_format
    scaler: torch.amp.GradScaler | None

    @property
    def extras(self) -> dict[str, Any]:
        """The run's stateful helpers, which a checkpoint must carry."""
        found = {"sparsity": self.hook, "swa": self.averager}
        return {k: v for k, v in found.items() if v is not None}


def on_device(data: Splits, device: torch.device) -> Splits:
    """The splits with every tensor on ``device`` (uint8 images: a few MB for these sets)."""
    moved = {f.name: getattr(data, f.name).to(device) for f in dataclasses.fields(data)
             if isinstance(getattr(data, f.name), torch.Tensor)}
    return dataclasses.replace(data, **moved)


def _start(config: TrainConfig, seed: int, data: Splits, device: torch.device,
           have: Machine) -> _Run:
    torch.manual_seed(seed)  # the CPU's and every GPU's global generator
    gen = torch.Generator(device=device).manual_seed(seed)
    layout = LAYOUT if channels_last(device.type) else torch.contiguous_format
    model = build_model(config.model, data.input_shape, data.n_classes, config.activation,
                        width=config.width, blocks=config.blocks, dropout=config.dropout)
    model = model.to(device).to(memory_format=layout)  # initialised on the CPU: same weights
    opt = make_optimizer(config.optimizer, model.parameters(), config.lr, config.weight_decay,
                         config.momentum)
    steps = math.ceil(len(data.train_x) / config.batch_size)
    base = lr_lambda(config.schedule, steps * config.epochs, steps, config.warmup)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, swa_lr_lambda(
        base, config.lr, config.swa_lr, config.swa_epochs, config.epochs, steps))
    hook = make_step_hook(config, model, steps * config.epochs, gen)
    averager = Averager(model, config.swa_epochs, config.epochs) if config.swa_epochs else None
    precision = device_precision(config.precision, device.type, have)
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    return _Run(config, data, model, opt, sched, gen, hook, averager,
                Batcher.for_data(data.train_x, config.augment),
                make_loss(config, data.train_y.cpu(), data.n_classes).to(device), precision, device,
                layout, scaler)


def _clock(device: torch.device) -> float:
    """perf_counter after the device's queued work is done (GPU kernels run asynchronously)."""
    synchronize(device)
    return time.perf_counter()


def _epoch(run: _Run, epoch: int, seconds_before: float) -> EpochRecord:
    """Train one epoch and measure the validation split (its time is not training time)."""
    t0 = _clock(run.device)
    tr_loss, tr_acc = train_epoch(run.model, run.opt, run.sched, run.data, run.batcher,
                                  run.loss_fn, run.config, run.gen, run.precision, run.hook,
                                  scaler=run.scaler, layout=run.layout)
    if run.averager is not None:
        run.averager.after_epoch(epoch, run.model)
    seconds = seconds_before + _clock(run.device) - t0
    val_loss, val_pred = evaluate(run.model, run.data.val_x, run.data.val_y, run.batcher,
                                  EVAL_LOSS, run.precision, run.layout)
    return EpochRecord(epoch, tr_loss, tr_acc, val_loss, accuracy(run.data.val_y, val_pred),
                       run.opt.param_groups[0]["lr"], seconds)


def fit(config: TrainConfig, seed: int, *, data_dir: Path = Path("storage/datasets"),
        on_epoch: EpochCallback | None = None, checkpoint: Checkpoint | None = None,
        device: str = "cpu", deterministic: bool = False) -> FitResult:
    """Train ``config`` with ``seed`` and measure the result on the test set.

    ``on_epoch`` sees every epoch's record and may raise to stop the run (pruning).
    ``checkpoint`` is loaded before the first epoch (a resumed run replays the stored epochs
    through ``on_epoch``) and saved after every epoch. ``device`` is auto, cpu, cuda, cuda:N or
    mps; ``deterministic`` asks for deterministic kernels (same seed, same device: same result).
    """
    have = machine_for(device)
    where = torch.device(pick_device(device, have))
    data = make_splits(config.dataset, data_dir, config.val_fraction, config.train_limit)
    with kernel_settings(where, deterministic):
        run = _start(config, seed, on_device(data, where), where, have)
        curve, seconds = _train(run, on_epoch, checkpoint)
        model = run.model
        if run.averager is not None:
            t0 = _clock(where)
            model = run.averager.finish(run.batcher(run.data.train_x[i:i + EVAL_BATCH])
                                        for i in range(0, len(run.data.train_x), EVAL_BATCH))
            seconds += _clock(where) - t0
        model = model.to(memory_format=torch.contiguous_format)
        metrics, pred = measure(model, run.data, run.batcher, run.precision, seconds, curve)
    # Handed back on the CPU: the engine saves, compresses and reloads it there.
    return FitResult(metrics, tuple(curve), model.cpu(), run.precision, data,
                     run.batcher.to("cpu"), pred.cpu(), data.test_y, str(where))


def _train(run: _Run, on_epoch: EpochCallback | None,
           checkpoint: Checkpoint | None) -> tuple[list[EpochRecord], float]:
    """The epochs not yet in the checkpoint; returns the whole curve and training seconds."""
    curve: list[EpochRecord] = []
    seconds = 0.0
    if checkpoint is not None and (resumed := checkpoint.load(
            run.model, run.opt, run.sched, run.gen, run.extras)):
        curve, seconds = resumed
    for record in curve:  # the resuming trial's curve is complete from epoch 1
        if on_epoch is not None:
            on_epoch(record)
    for epoch in range(len(curve) + 1, run.config.epochs + 1):
        record = _epoch(run, epoch, seconds)
        seconds = record.seconds
        curve.append(record)
        if checkpoint is not None:
            checkpoint.save(run.model, run.opt, run.sched, run.gen, curve, seconds, run.extras)
        if on_epoch is not None:
            on_epoch(record)
    return curve, seconds


def measure(model: nn.Module, data: Splits, batcher: Batcher, precision: str,
            train_seconds: float, curve: list[EpochRecord]) -> tuple[Metrics, torch.Tensor]:
    """Test-set metrics, timing and size of a trained model, in the precision it trained in,
    and its predicted test labels; on the device model and data are on (clocks synchronised)."""
    where = data.test_x.device
    t0 = _clock(where)
    test_loss, pred = evaluate(model, data.test_x, data.test_y, batcher, EVAL_LOSS, precision)
    infer = _clock(where) - t0
    # On the CPU: bincount has no deterministic GPU kernel.
    cm = confusion_matrix(data.test_y.cpu(), pred.cpu(), data.n_classes)
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
