"""Probe: how close a 2-epoch one-cycle schedule gets to 99.0% MNIST test accuracy.

Not a test. Trains each variant for 2 seeds on ../shared/datasets/mnist with 2 torch threads and
prints training seconds and test accuracy. Usage: python benchmarks/two_epoch_probe.py [DATA_DIR]
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import torch

from ablation.spec import TrainConfig
from ablation.training import fit

VARIANTS: dict[str, dict[str, object]] = {
    "default, epochs=2": {},
    "batch 64, lr 3e-3": {"batch_size": 64, "lr": 3e-3},
    "label smoothing 0.1, lr 4e-3": {"label_smoothing": 0.1, "lr": 4e-3},
    "width 24, batch 64, lr 3e-3": {"width": 24, "batch_size": 64, "lr": 3e-3},
}


def main() -> None:
    torch.set_num_threads(2)
    data = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/datasets/mnist")
    base = TrainConfig(dataset="mnist", epochs=2)
    print("| variant | seed | training s | test accuracy |\n|---|---|---|---|")
    for name, change in VARIANTS.items():
        for seed in (0, 1):
            m = fit(replace(base, **change), seed, data_dir=data).metrics  # type: ignore[arg-type]
            print(f"| {name} | {seed} | {m.train_seconds:.1f} | {100 * m.test_accuracy:.2f}% |",
                  flush=True)


if __name__ == "__main__":
    main()
