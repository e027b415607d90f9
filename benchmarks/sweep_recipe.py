"""The measurements behind ablate's default training recipe (docs/results-speed.md).

Part "speed": one epoch of MNIST per variant (training seconds, evaluation excluded).
Part "accuracy": whole recipes with the test set evaluated after every epoch (for this
measurement only; not counted in training seconds). Every variant starts from the TrainConfig given
on the command line's --base (default: the current defaults) with dataset mnist.

    python benchmarks/sweep_recipe.py --threads 2 --part speed
    python benchmarks/sweep_recipe.py --part accuracy --seeds 3 --variant '{"epochs": 2}'
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import MNIST, fit_with_test_curve, loadavg, pin_threads  # noqa: E402

SPEED: list[dict[str, Any]] = [
    {}, {"precision": "fp32"}, {"batch_size": 256, "lr": 8e-3}, {"width": 32},
]
# The previous default recipe, then one change at a time toward the current one (2-epoch
# budget), then the current recipe with 3 and 10 epochs.
PREVIOUS = {"dropout": 0.1, "lr": 2e-3, "label_smoothing": 0.0}
ACCURACY: list[dict[str, Any]] = [
    {**PREVIOUS, "epochs": 2},
    {**PREVIOUS, "dropout": 0.0, "epochs": 2},
    {**PREVIOUS, "dropout": 0.0, "lr": 4e-3, "epochs": 2},
    {"epochs": 2},
    {"epochs": 2, "batch_size": 256, "lr": 8e-3},
    {"epochs": 3},
    {"epochs": 10},
]


def run_variant(changes: dict[str, Any], threads: int, stop_at: float | None = None,
                seed: int = 0) -> str:
    """One Markdown row: the variant, seed, seconds per epoch, test accuracy per epoch."""
    from ablation.config.trainconfig import TrainConfig

    pin_threads(threads)
    config = replace(TrainConfig(dataset="mnist"), **{"epochs": 1, **changes})
    curve = fit_with_test_curve(config, seed, MNIST, stop_at=stop_at)
    per_epoch = [b - a for a, b in zip([0.0, *curve.seconds], curve.seconds, strict=False)]
    name = ", ".join(f"{k}={v}" for k, v in sorted(changes.items())) or "defaults"
    t99 = curve.time_to(0.99)
    t993 = curve.time_to(0.993)
    return (f"| {name} | {seed} | {curve.params:,} | {min(per_epoch):.2f} | "
            f"{', '.join(f'{a:.4f}' for a in curve.test_acc)} | "
            f"{'-' if t99 is None else f'{t99:.1f}'} | {'-' if t993 is None else f'{t993:.1f}'} "
            f"| {loadavg()} |")


def main() -> None:
    """Run the chosen part's variants one after another and print Markdown rows."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--part", choices=("speed", "accuracy"), default="speed")
    p.add_argument("--variant", action="append", default=[],
                   help="JSON dict of TrainConfig changes (repeatable); replaces the part's list")
    p.add_argument("--seeds", type=int, default=1, help="run every variant with seeds 0..N-1")
    p.add_argument("--stop-at", type=float, default=None,
                   help="end a run after the first epoch at this test accuracy")
    args = p.parse_args()
    variants = [json.loads(v) for v in args.variant] or (SPEED if args.part == "speed"
                                                         else ACCURACY)
    print(f"command: python {' '.join(sys.argv)}; threads {args.threads}; "
          f"loadavg at start {loadavg()}")
    print("| variant | seed | params | s/epoch (fastest) | test acc per epoch | s to 99.0% "
          "| s to 99.3% | loadavg |\n|---|---|---|---|---|---|---|---|", flush=True)
    for v in variants:
        for seed in range(args.seeds):
            print(run_variant(v, args.threads, args.stop_at, seed), flush=True)


if __name__ == "__main__":
    main()
