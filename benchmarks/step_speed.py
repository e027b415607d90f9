"""Seconds per MNIST epoch of resnet-lite training steps, variant against variant, interleaved.

Each variant (JSON: width, batch, precision, layout, dropout, compile) gets its own model and
optimizer on a fixed random batch; then every variant runs a block of --steps training steps, in
turn, --blocks times, and the best block is reported as seconds per 21,416-image epoch (the MNIST
training split). Interleaving and best-of-blocks keep a noisy neighbour from favouring whichever
variant ran first. Data loading and evaluation are not included: this isolates the training step.

    python benchmarks/step_speed.py                    # the variants behind the default recipe
    python benchmarks/step_speed.py '{"compile": true}' '{}'
    python benchmarks/step_speed.py --profile '{"batch": 256, "dropout": "nn"}'

dropout: "nn" (torch.nn.Dropout 0.1), "fast" (ablation.layers.Dropout 0.1) or "none".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import loadavg, pin_threads  # noqa: E402

EPOCH_IMAGES = 21_416
DEFAULTS: dict[str, Any] = {"width": 16, "batch": 128, "precision": "bf16", "layout": "nhwc",
                            "dropout": "none", "compile": False}
VARIANTS: list[dict[str, Any]] = [
    {"layout": "nchw", "dropout": "nn"}, {"layout": "nchw", "dropout": "fast"},
    {"layout": "nchw"}, {"dropout": "nn"}, {"dropout": "fast"}, {},
    {"batch": 256, "dropout": "nn"}, {"batch": 256, "dropout": "fast"}, {"batch": 256},
    {"precision": "fp32", "layout": "nchw"}, {"precision": "fp32"},
    {"width": 32, "layout": "nchw"}, {"width": 32},
]


def make_step(v: dict[str, Any]) -> tuple[Callable[[], None], float, float]:
    """One variant's training step (warmed up), its warm-up seconds and FLOPs per image."""
    from ablation.models import build_model
    from ablation.models.layers import Dropout
    from ablation.training.precision import autocast
    from benchmarks.bench_speed import flops_per_image

    torch.manual_seed(0)
    model = build_model("resnet-lite", (1, 28, 28), 10, "relu", width=v["width"], blocks=3,
                        dropout=0.1)
    for module in model.modules():
        if hasattr(module, "drop"):
            module.drop = {"nn": nn.Dropout(0.1), "fast": Dropout(0.1),
                           "none": nn.Identity()}[v["dropout"]]
    layout = torch.channels_last if v["layout"] == "nhwc" else torch.contiguous_format
    model = model.to(memory_format=layout)
    opt = torch.optim.NAdam(model.parameters(), lr=2e-3)
    x = torch.randn(v["batch"], 1, 28, 28).contiguous(memory_format=layout)
    y = torch.randint(0, 10, (v["batch"],))
    flops = flops_per_image(model, (1, 28, 28))
    forward = torch.compile(model) if v["compile"] else model

    def step() -> None:
        with autocast(v["precision"]):
            out = forward(x)
        loss = F.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t0 = time.perf_counter()
    for _ in range(3):
        step()
    return step, time.perf_counter() - t0, flops


def main() -> None:
    """Build every variant, time interleaved blocks, print a Markdown table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("variants", nargs="*", help="JSON changes to the defaults "
                   f"{json.dumps(DEFAULTS)}; default: the built-in list")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--blocks", type=int, default=6)
    p.add_argument("--profile", action="store_true",
                   help="print torch.profiler's op table over 10 steps of each variant instead")
    args = p.parse_args()
    pin_threads(args.threads)
    variants = [{**DEFAULTS, **json.loads(t)} for t in args.variants] or \
        [{**DEFAULTS, **v} for v in VARIANTS]
    from benchmarks.bench_speed import matmul_peak

    print(f"command: python {' '.join(sys.argv)}; loadavg at start {loadavg()}", flush=True)
    peaks = {"fp32": matmul_peak(torch.float32, args.threads),
             "bf16": matmul_peak(torch.bfloat16, args.threads)}
    print(f"matmul peak GFLOP/s: fp32 {peaks['fp32']:.0f}, bf16 {peaks['bf16']:.0f}")
    built = [make_step(v) for v in variants]
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        for v, (step, _, _) in zip(variants, built, strict=True):
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(10):
                    step()
            print(json.dumps(v))
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
        return
    best = [float("inf")] * len(built)
    for _ in range(args.blocks):
        for i, (step, _warm, _flops) in enumerate(built):
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step()
            per_step = (time.perf_counter() - t0) / args.steps
            best[i] = min(best[i], per_step * EPOCH_IMAGES / variants[i]["batch"])
    print("| width | batch | precision | layout | dropout | compile | s/epoch (best block) "
          "| GFLOP/s | share of matmul peak | warm-up s |\n" + "|---" * 10 + "|")
    for v, b, (_, warm, flops) in zip(variants, best, built, strict=True):
        rate = flops * EPOCH_IMAGES / b / 1e9
        print(f"| {v['width']} | {v['batch']} | {v['precision']} | {v['layout']} | "
              f"{v['dropout']} | {'yes' if v['compile'] else 'no'} | {b:.2f} | {rate:.0f} | "
              f"{rate / peaks[v['precision']]:.0%} | {warm:.1f} |")
    print(f"loadavg at end {loadavg()}")


if __name__ == "__main__":
    main()
