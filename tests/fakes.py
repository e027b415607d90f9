"""Trainers for tests that start real ``ablate`` processes, named with ``--trainer``
(``--trainer tests.fakes:sleep_fit``), the same way a user plugs in a trainer of their own.

- ``sleep_fit``: no training; deterministic made-up metrics and test predictions (1,000 made-up
  test labels), ABLATE_FAKE_PAUSE seconds per epoch.
- ``noisy_fit``: made-up accuracies with a known effect per optimizer and seeded seed noise
  (for the statistics: rounds, plans).
- ``slow_fit``: the real trainer, pausing ABLATE_FAKE_PAUSE seconds after every epoch (so a test
  can SIGKILL a worker between two checkpoints).
- ``failing_fit``: as sleep_fit, but points with optimizer sgd fail (ABLATE_FAKE_FAIL says how).
- ``ABLATE_FAKE_LOG=FILE``: every call appends "pid point-key" to FILE, so a test sees each
  training that started, whatever the database says.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ablation.analysis.records import EpochRecord, Metrics
from ablation.config.trainconfig import TrainConfig
from ablation.spec.space import point_key
from ablation.training.fit import EpochCallback, FitResult, fit


def _pause() -> float:
    return float(os.environ.get("ABLATE_FAKE_PAUSE", "0"))


def _log(config: TrainConfig, seed: int) -> None:
    path = os.environ.get("ABLATE_FAKE_LOG")
    if path:
        line = f"{os.getpid()} {point_key(config, seed)}\n".encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)  # one small O_APPEND write: lines of several processes never mix
        finally:
            os.close(fd)


def sleep_fit(config: TrainConfig, seed: int, *, data_dir: Path, on_epoch: EpochCallback |
              None = None, checkpoint: Any = None) -> FitResult:
    """Made-up metrics that depend on configuration and seed; sleeps instead of training."""
    _log(config, seed)
    score = (sum(map(ord, repr(config.describe()))) % 97) / 100 + seed / 1000
    for epoch in range(1, config.epochs + 1):
        time.sleep(_pause())
        if on_epoch is not None:
            on_epoch(EpochRecord(epoch, 1 / epoch, score, 1 / epoch, score, 0.1, 0.0))
    labels, pred = _made_up_predictions(config, seed, score)
    confusion = np.zeros((N_CLASSES, N_CLASSES), dtype=int)
    np.add.at(confusion, (labels, pred), 1)
    metrics = Metrics(test_loss=1 - score, test_accuracy=float(np.mean(pred == labels)),
                      macro_f1=score, val_loss=1 - score, val_accuracy=score, train_seconds=0.0,
                      infer_seconds=0.0, infer_ms_per_image=0.0, params=6, state_bytes=100,
                      epochs_run=config.epochs,
                      confusion=tuple(tuple(int(v) for v in r) for r in confusion))
    return FitResult(metrics, (), nn.Linear(2, 2), predictions=torch.from_numpy(pred),
                     labels=torch.from_numpy(labels))


N_TEST, N_CLASSES = 1000, 10  # the made-up test set of sleep_fit


def _made_up_predictions(config: TrainConfig, seed: int,
                         score: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels 0..9 in turn and predictions right on round(score * N_TEST) examples chosen at
    random (seeded by configuration and seed), wrong by one class elsewhere."""
    labels = np.arange(N_TEST) % N_CLASSES
    rng = np.random.default_rng(int(point_key(config, seed)[:8], 16))
    right = rng.permutation(N_TEST) < round(score * N_TEST)
    return labels, np.where(right, labels, (labels + 1) % N_CLASSES)


def slow_fit(config: TrainConfig, seed: int, *, data_dir: Path, on_epoch: EpochCallback |
             None = None, checkpoint: Any = None) -> FitResult:
    """The real trainer with a pause after every epoch (after its checkpoint is written)."""
    _log(config, seed)

    def paused(record: EpochRecord) -> None:
        if on_epoch is not None:
            on_epoch(record)
        time.sleep(_pause())

    return fit(config, seed, data_dir=data_dir, on_epoch=paused, checkpoint=checkpoint)


def untrained_fit(config: TrainConfig, seed: int, *, data_dir: Path,
                  on_epoch: EpochCallback | None = None, checkpoint: Any = None) -> FitResult:
    """The configuration's real model, initialised but not trained, with made-up metrics.

    Its weights load wherever a trained trial's do (predict, embed, cross-eval), in no time.
    """
    import torch

    from ablation.data.datasets import load_raw
    from ablation.models import build_model

    raw = load_raw(config.dataset, str(data_dir))
    torch.manual_seed(seed)
    model = build_model(config.model, tuple(raw.train_x.shape[1:]), len(raw.classes),
                        config.activation, width=config.width, blocks=config.blocks,
                        dropout=config.dropout)
    made_up = sleep_fit(config, seed, data_dir=data_dir, on_epoch=on_epoch)
    return FitResult(made_up.metrics, made_up.curve, model, predictions=made_up.predictions,
                     labels=made_up.labels)


# Made-up true effects on test accuracy (fraction) for noisy_fit; other optimizers: 0.
EFFECTS = {"sgd": -0.05, "adamax": 0.004}


def noisy_fit(config: TrainConfig, seed: int, *, data_dir: Path,
              on_epoch: EpochCallback | None = None, checkpoint: Any = None) -> FitResult:
    """Accuracy 0.9 + the optimizer's made-up effect (EFFECTS) + seed noise: a part every
    configuration shares per seed (sd 0.002) and its own part (sd 0.001), both seeded, so a
    paired test sees what a real study would. No predictions are returned."""
    _log(config, seed)
    shared = np.random.default_rng(seed).normal(0, 0.002)
    own = np.random.default_rng(int(point_key(config, seed)[:8], 16)).normal(0, 0.001)
    acc = 0.9 + EFFECTS.get(config.optimizer, 0.0) + shared + own
    if on_epoch is not None:
        on_epoch(EpochRecord(1, 1 - acc, acc, 1 - acc, acc, 0.1, 0.0))
    metrics = Metrics(test_loss=1 - acc, test_accuracy=acc, macro_f1=acc, val_loss=1 - acc,
                      val_accuracy=acc, train_seconds=0.0, infer_seconds=0.0,
                      infer_ms_per_image=0.0, params=6, state_bytes=100, epochs_run=1,
                      confusion=((5000, 0), (0, 5000)))
    return FitResult(metrics, (), nn.Linear(2, 2))


def failing_fit(config: TrainConfig, seed: int, *, data_dir: Path, on_epoch: EpochCallback |
                None = None, checkpoint: Any = None) -> FitResult:
    """``sleep_fit``, except that points with ``optimizer = "sgd"`` fail: with ValueError (a
    configuration failure), or as ABLATE_FAKE_FAIL says: "memory" (MemoryError, an
    infrastructure failure) or "nan" (a diverging training loss)."""
    _log(config, seed)
    if config.optimizer != "sgd":
        return sleep_fit(config, seed, data_dir=data_dir, on_epoch=on_epoch)
    how = os.environ.get("ABLATE_FAKE_FAIL", "value")
    if how == "memory":
        raise MemoryError("fake: out of memory")
    if how == "nan" and on_epoch is not None:
        on_epoch(EpochRecord(1, float("nan"), 0.1, float("nan"), 0.1, 0.1, 0.0))
    raise ValueError("fake: this configuration cannot train")


def placed_fit(config: TrainConfig, seed: int, *, data_dir: Path,
               on_epoch: EpochCallback | None = None, checkpoint: Any = None,
               device: str = "unset", deterministic: bool = False) -> FitResult:
    """sleep_fit that logs, per trained point, the device keywords it was handed and the
    CUDA_VISIBLE_DEVICES its process sees (ABLATE_FAKE_PLACED_LOG)."""
    path = os.environ["ABLATE_FAKE_PLACED_LOG"]
    line = (f"{os.getpid()} {device} {deterministic} "
            f"{os.environ.get('CUDA_VISIBLE_DEVICES', '-')} {point_key(config, seed)}\n")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    return sleep_fit(config, seed, data_dir=data_dir, on_epoch=on_epoch, checkpoint=checkpoint)
