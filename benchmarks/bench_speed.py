"""Time-to-accuracy of ablate's default recipe against the conventional MNIST loop, side by side.

One invocation measures, on the same machine and thread count:
  (a) a conventional reference loop written here: torchvision's MNIST Dataset, a DataLoader of
      batch 64 with per-sample ToTensor + Normalize, the two-conv 1.2M-parameter Net of the
      pytorch/examples MNIST recipe, Adadelta (lr 1.0) with StepLR (gamma 0.7);
  (b) ablation.training.fit with the default TrainConfig (dataset mnist);
plus the fp32 and bf16 torch.matmul peak of this CPU at the same thread count.
Each arm runs in its own child process (spawned one after the other, never together) so that its
peak resident memory (getrusage ru_maxrss) is its own. The test set is evaluated after every epoch
for this measurement only; that evaluation is not counted in the training seconds.

    flock /tmp/ablate-heavy.lock python benchmarks/bench_speed.py --threads 2
    python benchmarks/bench_speed.py --quick     # smoke run: 2,048 images, 1 epoch, no docs
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

from benchmarks._common import MNIST, Curve, fit_with_test_curve, loadavg, pin_threads  # noqa: E402

TARGETS = (0.990, 0.993)
QUICK_IMAGES = 2048
DOCS = Path(__file__).resolve().parent.parent / "docs" / "results-speed.md"


@dataclass
class ArmResult:
    """What one arm measured."""

    name: str
    curve: Curve
    flops_per_image: float  # forward + backward, FlopCounterMode
    train_images: int
    maxrss_mb: float
    precision: str
    notes: list[str] = field(default_factory=list)

    @property
    def sec_per_epoch(self) -> float:
        """Best (lowest) training seconds of one epoch."""
        steps = [b - a for a, b in zip([0.0, *self.curve.seconds], self.curve.seconds,
                                       strict=False)]
        return min(steps)

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

    from ablation.data import cache_dir_for, load_raw

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
    return ArmResult("reference (pytorch/examples-style loop)", curve, flops, len(train),
                     _maxrss_mb(), "fp32")


def _ablate_arm(epochs: int, quick: bool, threads: int) -> ArmResult:
    from ablation.data import make_splits
    from ablation.models import build_model
    from ablation.spec import TrainConfig

    pin_threads(threads)
    base = TrainConfig(dataset="mnist")
    config = replace(base, epochs=min(base.epochs, epochs),
                     train_limit=QUICK_IMAGES if quick else base.train_limit)
    data = make_splits("mnist", MNIST, config.val_fraction, config.train_limit)
    model = build_model(config.model, data.input_shape, data.n_classes, config.activation,
                        width=config.width, blocks=config.blocks, dropout=config.dropout)
    flops = flops_per_image(model, data.input_shape)
    curve = fit_with_test_curve(config, 0, MNIST, stop_at=TARGETS[-1])
    for i, (s, a) in enumerate(zip(curve.seconds, curve.test_acc, strict=True), 1):
        print(f"  ablate epoch {i}: {s:.1f} s, test {a:.4f}", flush=True)
    notes = [f"config: {config}"]
    return ArmResult("ablate fit(), default TrainConfig", curve, flops, len(data.train_x),
                     _maxrss_mb(), config.precision, notes)


def matmul_peak(dtype: torch.dtype, threads: int, n: int = 1024, repeats: int = 10) -> float:
    """Best GFLOP/s of an n x n torch.matmul in ``dtype`` on ``threads`` threads."""
    pin_threads(threads)
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    for _ in range(3):
        torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _peaks(threads: int) -> dict[str, float]:
    return {"fp32": matmul_peak(torch.float32, threads),
            "bf16": matmul_peak(torch.bfloat16, threads)}


def _in_child(fn, *args):  # noqa: ANN001, ANN202 - tiny spawn helper
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


def _fmt_time(t: float | None, epochs: int) -> str:
    return f"{t:.1f} s" if t is not None else f"not reached in {epochs} epochs"


def _ratio(ref: ArmResult, ours: ArmResult, target: float) -> str:
    r, o = ref.curve.time_to(target), ours.curve.time_to(target)
    if o is None:
        return "n/a (ablate did not reach it)"
    if r is None:
        return f"> {ref.curve.seconds[-1] / o:.1f}x (reference never reached it)"
    return f"{r / o:.1f}x"


def render(ref: ArmResult, ours: ArmResult, peaks: dict[str, float], meta: dict[str, str]) -> str:
    """The Markdown report."""
    rows = ["| | " + " | ".join((ref.name, ours.name)) + " |", "|---|---|---|"]

    def row(label: str, f) -> None:  # noqa: ANN001
        rows.append(f"| {label} | {f(ref)} | {f(ours)} |")

    row("parameters", lambda a: f"{a.curve.params:,}")
    row("training images", lambda a: f"{a.train_images:,}")
    row("precision", lambda a: a.precision)
    row("epochs run", lambda a: str(len(a.curve.seconds)))
    row("seconds per epoch (fastest epoch)", lambda a: f"{a.sec_per_epoch:.2f}")
    row("test accuracy per epoch", lambda a: ", ".join(f"{x:.4f}" for x in a.curve.test_acc))
    for t in TARGETS:
        row(f"time to {t:.1%} test accuracy", lambda a, t=t: _fmt_time(a.curve.time_to(t),
                                                                       len(a.curve.seconds)))
    row("model MFLOP per image (fwd+bwd)", lambda a: f"{a.flops_per_image / 1e6:.1f}")
    row("achieved GFLOP/s (fastest epoch)", lambda a: f"{a.gflops:.1f}")
    row("share of matmul peak (same precision)",
        lambda a: f"{a.gflops / peaks[a.precision]:.0%} of {peaks[a.precision]:.0f}")
    row("peak memory, ru_maxrss of its process (MB)", lambda a: f"{a.maxrss_mb:.0f}")
    ratios = [f"- speed-up in time to {t:.1%}: {_ratio(ref, ours, t)}" for t in TARGETS]
    ratios.append(f"- per-epoch speed ratio: {ref.sec_per_epoch / ours.sec_per_epoch:.1f}x")
    head = [f"- command: `{meta['command']}`", f"- date (UTC): {meta['date']}",
            f"- machine: {meta['machine']}, torch {torch.__version__}, {meta['threads']} threads",
            f"- loadavg before / after: {meta['load_before']} / {meta['load_after']}",
            f"- matmul peak (1024x1024 torch.matmul, best of 10): fp32 {peaks['fp32']:.0f} "
            f"GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s",
            "- test accuracy is evaluated after every epoch for this measurement only; "
            "evaluation time is excluded from training seconds",
            "- the reference trains on all training images; ablate holds 10% out for "
            "validation, as every study does",
            "- each arm stops after the first epoch at >= 99.3% test accuracy (later epochs "
            "cannot change a time-to-accuracy figure)"]
    return "\n".join(head + ["", *rows, "", *ratios, *(f"- {n}" for n in ours.notes)]) + "\n"


def main() -> None:
    """Parse arguments, run both arms one after the other, print and write the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-epochs", type=int, default=14,
                   help="cap on ablate's epochs (its schedule is then cut to this length)")
    p.add_argument("--ref-epochs", type=int, default=14,
                   help="cap on the reference loop's epochs (pytorch/examples runs 14)")
    p.add_argument("--quick", action="store_true", help="smoke run: tiny subset, 1 epoch")
    p.add_argument("--out", type=Path, default=None, help=f"Markdown file (default {DOCS})")
    args = p.parse_args()
    epochs = 1 if args.quick else args.max_epochs
    ref_epochs = 1 if args.quick else args.ref_epochs
    meta = {"command": "python " + " ".join(sys.argv), "threads": str(args.threads),
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "load_before": loadavg()}
    peaks = _in_child(_peaks, args.threads)
    print(f"matmul peak: {peaks}", flush=True)
    ours = _in_child(_ablate_arm, epochs, args.quick, args.threads)
    ref = _in_child(_reference_arm, ref_epochs, args.quick, args.threads)
    meta["load_after"] = loadavg()
    text = render(ref, ours, peaks, meta)
    print(text)
    out = args.out or (None if args.quick else DOCS)
    if out is not None:
        write_section(out, text)
        print(f"wrote {out}")


START, END = "<!-- bench_speed:start -->", "<!-- bench_speed:end -->"


def write_section(path: Path, text: str) -> None:
    """Put ``text`` between the markers in ``path`` (the rest of the page is kept)."""
    block = f"{START}\n{text}{END}"
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    if START in old and END in old:
        head, rest = old.split(START, 1)
        new = head + block + rest.split(END, 1)[1]
    else:
        new = (old + "\n" if old else "") + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main()
