"""Time-to-accuracy of ablate's default recipe against the conventional MNIST loop, side by side.

One invocation measures, on the same machine and thread count:
  (a) a conventional reference loop written here: torchvision's MNIST Dataset, a DataLoader of
      batch 64 with per-sample ToTensor + Normalize, the two-conv 1.2M-parameter Net of the
      pytorch/examples MNIST recipe, Adadelta (lr 1.0) with StepLR (gamma 0.7);
  (b) ablation.training.fit with the default TrainConfig (dataset mnist, its 10-epoch schedule);
  (c) the same default recipe given a 2-epoch budget (``epochs = 2``: the one-cycle schedule is
      planned over 2 epochs, which is how a time-to-accuracy user runs it);
plus the fp32 and bf16 torch.matmul peak of this CPU at the same thread count (the best of a
1024 and a 2048 square matmul). Every arm is labelled with the precision and device it actually
ran in ("auto" resolved) and compared with the measured peak of that precision on that device.
The report starts with the hardware: CPU model, the flags that decide a step's speed
(avx512f, avx512_bf16, amx_tile, amx_bf16), threads, GPU. The ablate arms run over several seeds
(--seeds); the headline time to an accuracy is the slowest seed's.
Each arm runs in its own child process (spawned one after the other, never together) so that its
peak resident memory (getrusage ru_maxrss) is its own. The test set is evaluated after every epoch
for this measurement only; that evaluation is not counted in the training seconds.

    python benchmarks/bench_speed.py --threads 2 --seeds 3
    python benchmarks/bench_speed.py --quick     # smoke run: 2,048 images, 1 epoch, no docs
    python benchmarks/bench_speed.py --fp32-arm  # adds the budget arm forced to fp32 (the path
                                                 # of a CPU without bf16)
    python benchmarks/bench_speed.py --device cuda   # GPU mode (benchmarks/speed_cuda.py)
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing as mp
import platform
import resource
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import (  # noqa: E402
    MNIST,
    Curve,
    fit_with_test_curve,
    hardware,
    loadavg,
    pin_threads,
)

TARGETS = (0.990, 0.993)
QUICK_IMAGES = 2048
DOCS = Path(__file__).resolve().parent.parent / "docs" / "results-speed.md"


@dataclass
class ArmResult:
    """What one arm measured: one curve per seed."""

    name: str
    curves: list[Curve]
    flops_per_image: float  # forward + backward, FlopCounterMode
    train_images: int
    maxrss_mb: float
    precision: str  # as run: "auto" resolved by fit
    notes: list[str] = field(default_factory=list)
    device: str = "cpu"

    @property
    def sec_per_epoch(self) -> float:
        """Best (lowest) training seconds of one epoch, over every seed."""
        return min(b - a for c in self.curves
                   for a, b in zip([0.0, *c.seconds], c.seconds, strict=False))

    def times_to(self, target: float) -> list[float | None]:
        """Training seconds to ``target`` test accuracy, per seed (None: not reached)."""
        return [c.time_to(target) for c in self.curves]

    def worst_time_to(self, target: float) -> float | None:
        """The slowest seed's time to ``target``; None if any seed never reached it."""
        times = self.times_to(target)
        return None if any(t is None for t in times) else max(t for t in times if t is not None)

    @property
    def gflops(self) -> float:
        """Achieved model GFLOP/s over the fastest epoch."""
        return self.flops_per_image * self.train_images / self.sec_per_epoch / 1e9


class ReferenceNet(nn.Module):
    """Two 3x3 convs (32, 64 maps), max-pool, dropout, 128-unit hidden layer: ~1.2M parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_a = nn.Conv2d(1, 32, 3)
        self.conv_b = nn.Conv2d(32, 64, 3)
        self.hidden = nn.Linear(64 * 12 * 12, 128)
        self.out = nn.Linear(128, 10)
        self.drop_conv, self.drop_fc = nn.Dropout(0.25), nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv_b(F.relu(self.conv_a(x)))), 2)
        x = self.drop_fc(F.relu(self.hidden(torch.flatten(self.drop_conv(x), 1))))
        return F.log_softmax(self.out(x), dim=1)


def flops_per_image(model: nn.Module, shape: tuple[int, ...], loss_of=None) -> float:
    """Forward + backward FLOPs of one image, counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    model.train()
    x = torch.randn(16, *shape)
    with FlopCounterMode(display=False) as counter:
        model(x).float().sum().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / 16


def _reference_arm(epochs: int, quick: bool, threads: int) -> ArmResult:
    import torchvision.datasets as tvd
    from torch.utils.data import DataLoader, Subset
    from torchvision import transforms

    from ablation.data.datasets import cache_dir_for, load_raw

    pin_threads(threads)
    load_raw("mnist", str(MNIST))  # stages the read-only .gz files into ablate's cache once
    root = str(cache_dir_for(MNIST))
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    train = tvd.MNIST(root, train=True, transform=tf, download=False)
    test = tvd.MNIST(root, train=False, transform=tf, download=False)
    if quick:
        train = Subset(train, range(QUICK_IMAGES))
    torch.manual_seed(0)
    train_loader = DataLoader(train, batch_size=64, shuffle=True)
    test_loader = DataLoader(test, batch_size=1000)
    model = ReferenceNet()
    flops = flops_per_image(model, (1, 28, 28))
    opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
    curve, trained = Curve(params=sum(p.numel() for p in model.parameters())), 0.0
    t_start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        t0 = time.perf_counter()
        for x, y in train_loader:
            opt.zero_grad()
            F.nll_loss(model(x), y).backward()
            opt.step()
        sched.step()
        trained += time.perf_counter() - t0
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in test_loader:
                correct += int((model(x).argmax(1) == y).sum())
        curve.seconds.append(trained)
        curve.test_acc.append(correct / len(test))
        print(f"  reference epoch {len(curve.seconds)}: {trained:.1f} s, "
              f"test {correct / len(test):.4f}", flush=True)
        if curve.test_acc[-1] >= TARGETS[-1]:
            break
    curve.wall = time.perf_counter() - t_start
    return ArmResult("reference (pytorch/examples-style loop)", [curve], flops, len(train),
                     _maxrss_mb(), "fp32")


def _ablate_arm(epochs: int | None, quick: bool, threads: int, seeds: int,
                stop_at: float | None, precision: str = "auto") -> ArmResult:
    """ablate's fit with the default TrainConfig; ``epochs`` replaces its schedule length and
    ``precision`` its precision."""
    from ablation.config.trainconfig import TrainConfig
    from ablation.data.datasets import make_splits
    from ablation.models import build_model

    pin_threads(threads)
    base = TrainConfig(dataset="mnist")
    config = replace(base, epochs=1 if quick else (epochs or base.epochs),
                     train_limit=QUICK_IMAGES if quick else base.train_limit,
                     precision=precision)
    data = make_splits("mnist", MNIST, config.val_fraction, config.train_limit)
    model = build_model(config.model, data.input_shape, data.n_classes, config.activation,
                        width=config.width, blocks=config.blocks, dropout=config.dropout)
    flops = flops_per_image(model, data.input_shape)
    curves = []
    for seed in range(seeds):
        curves.append(fit_with_test_curve(config, seed, MNIST, stop_at=stop_at))
        print(f"  ablate epochs={config.epochs} seed {seed}: " + ", ".join(
            f"{s:.1f} s {a:.4f}" for s, a in zip(curves[-1].seconds, curves[-1].test_acc,
                                                   strict=True)), flush=True)
    name = ("ablate fit(), default TrainConfig" if epochs is None
            else f"ablate fit(), default TrainConfig with epochs = {config.epochs}")
    if precision != "auto":
        name += f", precision = {precision}"
    used = {c.precision for c in curves}
    if len(used) != 1:
        raise RuntimeError(f"seeds of one arm ran in different precisions: {used}")
    return ArmResult(name, curves, flops, len(data.train_x), _maxrss_mb(), used.pop(),
                     [f"config of '{name}': {config}"])


def matmul_peak(dtype: torch.dtype, threads: int, n: int = 1024, repeats: int = 10,
                device: str = "cpu") -> float:
    """Best GFLOP/s of an n x n torch.matmul in ``dtype`` on ``threads`` threads (on a GPU,
    timed between synchronisations)."""
    pin_threads(threads)
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(3):
        torch.matmul(a, b)
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        sync()
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


PEAK_SIZES = (1024, 2048)  # the best of both: the larger one is slower on some 2-core VMs


def _peaks(threads: int) -> dict[str, float]:
    """The CPU's measured matmul peak per precision (GFLOP/s, the best over PEAK_SIZES)."""
    return {name: max(matmul_peak(dtype, threads, n) for n in PEAK_SIZES)
            for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))}


def _in_child(fn, *args):  # noqa: ANN001, ANN202 - tiny spawn helper
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


def _fmt_time(arm: ArmResult, target: float) -> str:
    times = arm.times_to(target)
    epochs = max(len(c.seconds) for c in arm.curves)
    if len(times) == 1:
        return f"{times[0]:.1f} s" if times[0] is not None else f"not reached in {epochs} epochs"
    reached = [t for t in times if t is not None]
    seeds = ", ".join("-" if t is None else f"{t:.1f}" for t in times)
    head = (f"**{max(reached):.1f} s** (slowest seed)" if len(reached) == len(times)
            else f"{len(reached)} of {len(times)} seeds reached it")
    return f"{head}; per seed {seeds}"


def _ratio(ref: ArmResult, ours: ArmResult, target: float) -> str:
    r, o = ref.worst_time_to(target), ours.worst_time_to(target)
    if o is None:
        return "n/a (not every seed reached it)"
    if r is None:
        epochs = len(ref.curves[0].seconds)
        return (f"> {ref.curves[0].seconds[-1] / o:.1f}x (the reference never reached it in its "
                f"{epochs} epochs, {ref.curves[0].seconds[-1]:.0f} s)")
    return f"{r / o:.1f}x"


def render(arms: list[ArmResult], peaks: dict[str, float], meta: dict[str, str]) -> str:
    """The Markdown report: one column per arm, the reference first."""
    ref, ours = arms[0], arms[1:]
    rows = ["| | " + " | ".join(a.name for a in arms) + " |", "|---" * (len(arms) + 1) + "|"]

    def row(label: str, f) -> None:  # noqa: ANN001
        rows.append(f"| {label} | " + " | ".join(f(a) for a in arms) + " |")

    row("parameters", lambda a: f"{a.curves[0].params:,}")
    row("training images", lambda a: f"{a.train_images:,}")
    row("precision, device (as run)", lambda a: f"{a.precision}, {a.device}")
    row("seeds", lambda a: str(len(a.curves)))
    row("epochs run (per seed)", lambda a: ", ".join(str(len(c.seconds)) for c in a.curves))
    row("seconds per epoch (fastest epoch)", lambda a: f"{a.sec_per_epoch:.2f}")
    row("test accuracy per epoch (seed 0)",
        lambda a: ", ".join(f"{x:.4f}" for x in a.curves[0].test_acc))
    row("final test accuracy (per seed)",
        lambda a: ", ".join(f"{c.test_acc[-1]:.4f}" for c in a.curves))
    for t in TARGETS:
        row(f"time to {t:.1%} test accuracy", lambda a, t=t: _fmt_time(a, t))
    row("model MFLOP per image (fwd+bwd)", lambda a: f"{a.flops_per_image / 1e6:.1f}")
    row("achieved GFLOP/s (fastest epoch)", lambda a: f"{a.gflops:.1f}")
    row("share of the measured matmul peak (same precision, same device)",
        lambda a: f"{a.gflops / peaks[a.precision]:.0%} of {peaks[a.precision]:.0f}")
    row("peak memory, ru_maxrss of its process (MB)", lambda a: f"{a.maxrss_mb:.0f}")
    ratios = [f"- speed-up of '{a.name}' in time to {t:.1%} (slowest seed): "
              f"{_ratio(ref, a, t)}" for a in ours for t in TARGETS]
    ratios += [f"- per-epoch speed ratio: {ref.sec_per_epoch / ours[0].sec_per_epoch:.1f}x"]
    head = [f"- command: `{meta['command']}`", f"- date (UTC): {meta['date']}",
            f"- machine: {meta['machine']}, torch {torch.__version__}, {meta['threads']} threads",
            *[f"- {line}" for line in meta["hardware"].splitlines()],
            f"- loadavg before / after: {meta['load_before']} / {meta['load_after']}",
            f"- CPU matmul peak (torch.matmul, best of 10 at 1024x1024 and at 2048x2048): "
            f"fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s",
            "- test accuracy is evaluated after every epoch for this measurement only; "
            "evaluation time is excluded from training seconds",
            "- the reference trains on all training images; ablate holds 10% out for "
            "validation, as every study does",
            "- the reference and the 10-epoch arm stop after the first epoch at >= 99.3% test "
            "accuracy (later epochs cannot change a time-to-accuracy figure)"]
    notes = [f"- {n}" for a in ours for n in a.notes]
    return "\n".join(head + ["", *rows, "", *ratios, *targets(arms, peaks), *notes]) + "\n"


def targets(arms: list[ArmResult], peaks: dict[str, float]) -> list[str]:
    """Issue 13's four targets, each checked against this run's own figures."""
    ref, ours = arms[0], arms[1:]
    best_epoch = min(ours, key=lambda a: a.sec_per_epoch)
    ratio = ref.sec_per_epoch / best_epoch.sec_per_epoch
    out = [f"- target per-epoch speed >= 6x the reference: {ratio:.2f}x ('{best_epoch.name}') "
           f"-> {'met' if ratio >= 6 else 'not met'}"]
    for t, limit in zip(TARGETS, (5.0, 30.0), strict=True):
        times = [(w, a.name) for a in ours if (w := a.worst_time_to(t)) is not None]
        if not times:
            out.append(f"- target {t:.1%} in <= {limit:.0f} s (slowest seed): no arm reached "
                       "it with every seed -> not met")
            continue
        w, name = min(times)
        out.append(f"- target {t:.1%} in <= {limit:.0f} s (slowest seed): {w:.1f} s ('{name}') "
                   f"-> {'met' if w <= limit else 'not met'}")
    share = max(a.gflops / peaks[a.precision] for a in ours)
    out.append(f"- target >= 50% of the matmul peak of the precision used: best arm {share:.0%} "
               f"-> {'met' if share >= 0.5 else 'not met'}")
    return out


def main() -> None:
    """Parse arguments, run both arms one after the other, print and write the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--budget", type=int, default=2,
                   help="epochs of the planned-budget arm (c)")
    p.add_argument("--seeds", type=int, default=3, help="seeds of each ablate arm")
    p.add_argument("--ref-epochs", type=int, default=14,
                   help="cap on the reference loop's epochs (pytorch/examples runs 14)")
    p.add_argument("--quick", action="store_true", help="smoke run: tiny subset, 1 epoch")
    p.add_argument("--out", type=Path, default=None, help=f"Markdown file (default {DOCS})")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cuda: time to 99.0%% and the optimizer study's wall time on the GPU")
    p.add_argument("--fp32-arm", action="store_true",
                   help="add the budget arm forced to fp32 (what a CPU without bf16 runs)")
    args = p.parse_args()
    if args.device == "cuda":
        from benchmarks.speed_cuda import cuda_main

        sys.exit(cuda_main(args))
    cpu_main(args)


def cpu_main(args: argparse.Namespace) -> None:
    """The CPU benchmark: peaks, the ablate arms and the reference loop, one after another."""
    seeds = 1 if args.quick else args.seeds
    ref_epochs = 1 if args.quick else args.ref_epochs
    pin_threads(args.threads)
    meta = {"command": "python " + " ".join(sys.argv), "threads": str(args.threads),
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "load_before": loadavg(), "hardware": "\n".join(hardware(args.threads))}
    print(meta["hardware"], flush=True)
    peaks = _in_child(_peaks, args.threads)
    print(f"matmul peak: {peaks}", flush=True)
    arms = [_in_child(_ablate_arm, None, args.quick, args.threads, seeds, TARGETS[-1]),
            _in_child(_ablate_arm, args.budget, args.quick, args.threads, seeds, None)]
    if args.fp32_arm:
        arms.append(_in_child(_ablate_arm, args.budget, args.quick, args.threads, seeds, None,
                              "fp32"))
    ref = _in_child(_reference_arm, ref_epochs, args.quick, args.threads)
    meta["load_after"] = loadavg()
    text = render([ref, *arms], peaks, meta)
    print(text)
    out = args.out or (None if args.quick else DOCS)
    if out is not None:
        write_section(out, text)
        print(f"wrote {out}")


START, END = "<!-- bench_speed:start -->", "<!-- bench_speed:end -->"


def write_section(path: Path, text: str, start: str = START, end: str = END) -> None:
    """Put ``text`` between the markers in ``path`` (the rest of the page is kept)."""
    block = f"{start}\n{text}{end}"
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    if start in old and end in old:
        head, rest = old.split(start, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = (old + "\n" if old else "") + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main()
