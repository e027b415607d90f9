"""Helpers shared by the benchmarks: thread pinning, load average, test accuracy per epoch."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

import ablation.training.fit as training
from ablation.analysis.classification import accuracy
from ablation.analysis.records import EpochRecord
from ablation.config.trainconfig import TrainConfig
from ablation.training.batches import Batcher

MNIST = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "mnist"


# The CPU flags that decide the speed of a step: bf16 in hardware (AVX512-BF16, AMX) and AVX-512.
SPEED_FLAGS = ("avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


def hardware(threads: int) -> list[str]:
    """Lines naming what a figure was measured on: CPU model and flags, threads, GPU."""
    from ablation.training.precision import cpu_flags, cpu_model, resolve_precision

    flags = cpu_flags()
    have = ", ".join(f"{f} {'yes' if f in flags else 'no'}" for f in SPEED_FLAGS)
    lines = [f"CPU: {cpu_model()} ({os.cpu_count()} logical CPUs); flags: {have}",
             f"torch {torch.__version__}, {threads} intra-op threads (torch.get_num_threads() "
             f"{torch.get_num_threads()}); precision 'auto' resolves to "
             f"{resolve_precision('auto')} on this CPU"]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            lines.append(f"GPU cuda:{i}: {p.name}, {p.total_memory / 2**30:.0f} GiB, "
                         f"CUDA {torch.version.cuda}")
    else:
        lines.append(f"GPU: none visible to torch (CUDA build {torch.version.cuda or 'none'})")
    return lines


def loadavg() -> str:
    """The 1/5/15-minute load averages, as /proc/loadavg prints them."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def pin_threads(threads: int) -> None:
    """Use exactly ``threads`` intra-op threads and one inter-op thread."""
    torch.set_num_threads(threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)


@dataclass
class Curve:
    """Training seconds and test accuracy after every epoch of one fit."""

    seconds: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    wall: float = 0.0
    params: int = 0
    precision: str = ""  # what fit resolved the config's precision to ("bf16", "fp32", ...)

    def time_to(self, target: float) -> float | None:
        """Training seconds until the test accuracy first reached ``target`` (None: never)."""
        return next((s for s, a in zip(self.seconds, self.test_acc, strict=True)
                     if a >= target), None)


class _Reached(Exception):
    """Raised from on_epoch to end a fit once the last target accuracy is reached."""


def fit_with_test_curve(config: TrainConfig, seed: int, data_dir: Path,
                        stop_at: float | None = None, device: str = "cpu") -> Curve:
    """Run ablation.training.fit and evaluate the test set after every epoch.

    fit() does not hand its model to on_epoch, so the model is caught where fit builds it.
    Test evaluation happens outside the timed training seconds (EpochRecord.seconds).
    With ``stop_at`` the run ends after the first epoch whose test accuracy reaches it (the
    epochs after it cannot change a time-to-accuracy figure).
    """
    curve = Curve()
    caught: list[nn.Module] = []
    original: Callable[..., nn.Module] = training.build_model
    original_precision: Callable[..., str] = training.device_precision

    def catching_build(*args: object, **kwargs: object) -> nn.Module:
        model = original(*args, **kwargs)
        caught.append(model)
        return model

    def catching_precision(*args: object, **kwargs: object) -> str:
        curve.precision = original_precision(*args, **kwargs)
        return curve.precision

    data = training.make_splits(config.dataset, data_dir, config.val_fraction,
                                config.train_limit)
    batcher = Batcher.for_data(data.train_x, False)
    loss = nn.CrossEntropyLoss()

    def on_epoch(record: EpochRecord) -> None:
        where = next(caught[-1].parameters()).device  # the device fit trains on
        _, pred = training.evaluate(caught[-1], data.test_x.to(where), data.test_y.to(where),
                                    batcher.to(where), loss, curve.precision)
        caught[-1].train()
        curve.seconds.append(record.seconds)
        curve.val_acc.append(record.val_accuracy)
        curve.test_acc.append(accuracy(data.test_y, pred.cpu()))
        if stop_at is not None and curve.test_acc[-1] >= stop_at:
            raise _Reached

    training.build_model = catching_build
    training.device_precision = catching_precision  # type: ignore[assignment]
    try:
        t0 = time.perf_counter()
        training.fit(config, seed, data_dir=data_dir, on_epoch=on_epoch, device=device)
    except _Reached:
        pass
    finally:
        curve.wall = time.perf_counter() - t0
        training.build_model = original
        training.device_precision = original_precision  # type: ignore[assignment]
    curve.params = sum(p.numel() for p in caught[-1].parameters())
    return curve

