"""``bench_speed.py --device cuda``: ablate's default recipe on one CUDA GPU.

Measures, on ``cuda:0``: the GPU's torch.matmul peak in bf16, fp16 and fp32 (8192 x 8192, timed
between synchronisations); the default recipe with a ``--budget``-epoch schedule over ``--seeds``
seeds (per-epoch seconds, time to 99.0% MNIST test accuracy, slowest seed; achieved GFLOP/s and
its share of the peak of the precision used); and the wall time of the whole built-in optimizer
study (8 optimizers x 3 seeds) on MNIST, run as ``ablate run optimizers --device cuda``.

The GPU training is ablate's own device support: ``fit(..., device="cuda")`` for the curves and
``--device cuda`` on ``ablate run`` for the study (:func:`study_command`). On a machine without
CUDA this mode stops with one line and exit status 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from benchmarks._common import MNIST, Curve, fit_with_test_curve, hardware, loadavg, pin_threads

CUDA_DOCS = Path(__file__).resolve().parent.parent / "docs" / "results-speed.md"
START, END = "<!-- bench_speed_cuda:start -->", "<!-- bench_speed_cuda:end -->"
GPU_PEAK_N = 8192
TARGET = 0.990


def no_cuda_message() -> str | None:
    """The one-line reason this mode cannot run here, or None when a CUDA GPU is visible."""
    if torch.cuda.is_available():
        return None
    return (f"error: --device cuda: torch {torch.__version__} sees no CUDA GPU on this machine "
            f"(CUDA build: {torch.version.cuda or 'none'}); run the GPU benchmark where one is "
            "visible, or leave out --device for the CPU benchmark")


def study_command(storage: str, artifacts: Path, device: str = "cuda") -> list[str]:
    """The optimizer study on MNIST on ``device``, as a user runs it."""
    return [sys.executable, "-m", "ablation", "run", "optimizers", "--dataset", "mnist",
            "--data-dir", str(MNIST), "--device", device, "--storage", storage,
            "--artifacts", str(artifacts)]


def gpu_peaks(threads: int) -> dict[str, float]:
    """The GPU's measured matmul GFLOP/s per precision."""
    from benchmarks.bench_speed import matmul_peak

    return {name: matmul_peak(dtype, threads, GPU_PEAK_N, 10, "cuda")
            for name, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16),
                                ("fp32", torch.float32))}


def _curves(args: argparse.Namespace) -> tuple[list[Curve], Any, float, int]:
    from ablation.config.trainconfig import TrainConfig
    from ablation.data.datasets import make_splits
    from ablation.models import build_model
    from benchmarks.bench_speed import flops_per_image

    config = replace(TrainConfig(dataset="mnist"), epochs=args.budget)
    data = make_splits("mnist", MNIST, config.val_fraction, config.train_limit)
    model = build_model(config.model, data.input_shape, data.n_classes, config.activation,
                        width=config.width, blocks=config.blocks, dropout=config.dropout)
    flops = flops_per_image(model, data.input_shape)
    curves = [fit_with_test_curve(config, seed, MNIST, device="cuda") for seed in range(args.seeds)]
    return curves, config, flops, len(data.train_x)


def _study_seconds() -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = study_command(f"sqlite:///{tmp}/study.db", Path(tmp) / "artifacts")
        t0 = time.perf_counter()
        rc = subprocess.run(cmd, check=False).returncode
        return time.perf_counter() - t0, rc


def render(meta: dict[str, str], peaks: dict[str, float], curves: list[Curve], flops: float,
           images: int, study: tuple[float, int]) -> str:
    """The Markdown section of the GPU run."""
    per_epoch = min(b - a for c in curves for a, b in zip([0.0, *c.seconds], c.seconds,
                                                         strict=False))
    times = [c.time_to(TARGET) for c in curves]
    reached = [t for t in times if t is not None]
    worst = f"{max(reached):.1f} s" if len(reached) == len(times) else "not every seed"
    precision = curves[0].precision
    rate = flops * images / per_epoch / 1e9
    share = f"{rate / peaks[precision]:.1%}" if precision in peaks else "n/a"
    lines = [f"- command: `{meta['command']}`", f"- date (UTC): {meta['date']}",
             *[f"- {h}" for h in meta["hardware"].splitlines()],
             f"- loadavg before / after: {meta['load_before']} / {meta['load_after']}",
             "- GPU matmul peak (8192x8192, best of 10): " + ", ".join(
                 f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items()),
             f"- default recipe, epochs = {meta['budget']}, precision as run: {precision}; "
             f"seconds per epoch (fastest): {per_epoch:.2f}",
             f"- time to {TARGET:.1%} test accuracy: {worst} (slowest seed); per seed "
             + ", ".join("-" if t is None else f"{t:.1f}" for t in times),
             f"- achieved {rate:.0f} GFLOP/s, {share} of the {precision} matmul peak",
             f"- optimizer study (8 optimizers x 3 seeds, MNIST, `ablate run optimizers "
             f"--device cuda`): {study[0]:.0f} s wall (exit status {study[1]})"]
    return "\n".join(lines) + "\n"


def cuda_main(args: argparse.Namespace) -> int:
    """Run the GPU benchmark; 2 with one line on stderr where no CUDA GPU is visible."""
    if (why := no_cuda_message()) is not None:
        print(why, file=sys.stderr)
        return 2
    pin_threads(args.threads)
    meta = {"command": "python " + " ".join(sys.argv), "budget": str(args.budget),
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
            "hardware": "\n".join(hardware(args.threads)), "load_before": loadavg()}
    peaks = gpu_peaks(args.threads)
    curves, _config, flops, images = _curves(args)
    study = _study_seconds()
    meta["load_after"] = loadavg()
    text = render(meta, peaks, curves, flops, images, study)
    print(text)
    if not args.quick:
        from benchmarks.bench_speed import write_section

        write_section(args.out or CUDA_DOCS, text, START, END)
    return 0
