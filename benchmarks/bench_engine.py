"""Engine overhead and pruners, measured inside real run_study calls on a temporary SQLite file.

For each pruner (none, median, successive-halving) an LR study (default
benchmarks/lr-pruning.toml; --study picks another, such as lr-pruning-mnist.toml) runs through
ablation.engine.run_study with the real trainer wrapped in a stopwatch. Reported per pruner:
epochs trained, best LR and its validation accuracy, and the engine's overhead: wall time of
run_study minus the time spent training inside fit(). The per-epoch callback (our epoch row,
Optuna's report and should_prune) runs inside fit() but is engine work, so it is timed on its own
and counted as overhead.

    python benchmarks/bench_engine.py --threads 2
    python benchmarks/bench_engine.py --study benchmarks/lr-pruning-mnist.toml \
        --pruners none,median,successive-halving,median:warmup=5,successive-halving:min=2:rf=3

A pruner written ``name:key=value:...`` is built here with those settings instead of the
engine's (median: startup, warmup; successive-halving: min, rf), to compare settings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import MNIST, loadavg, pin_threads  # noqa: E402

STUDY = Path(__file__).resolve().parent / "lr-pruning.toml"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "results-engine.md"


@dataclass
class Stopwatch:
    """Wraps fit(): seconds inside fit, seconds inside its per-epoch callback, epochs run."""

    fit_seconds: float = 0.0
    callback_seconds: float = 0.0
    epochs: int = 0
    trials: int = 0
    curves: dict[float, list[float]] = field(default_factory=dict)

    def __call__(self, config: Any, seed: int, *, data_dir: Path, on_epoch: Any,
                 checkpoint: Any = None) -> Any:
        from ablation.training.fit import fit

        def timed_on_epoch(record: Any) -> None:
            self.epochs += 1
            self.curves.setdefault(config.lr, []).append(record.val_accuracy)
            t0 = time.perf_counter()
            try:
                on_epoch(record)
            finally:
                self.callback_seconds += time.perf_counter() - t0

        self.trials += 1
        t0 = time.perf_counter()
        try:
            return fit(config, seed, data_dir=data_dir, on_epoch=timed_on_epoch,
                       checkpoint=checkpoint)
        finally:
            self.fit_seconds += time.perf_counter() - t0


def custom_pruner(text: str) -> Any:
    """``median:startup=3:warmup=5`` or ``successive-halving:min=2:rf=3`` as an Optuna pruner."""
    import optuna

    name, *pairs = text.split(":")
    kw = {k: int(v) for k, v in (pair.split("=") for pair in pairs)}
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=kw.get("startup", 3),
                                           n_warmup_steps=kw.get("warmup", 1))
    if name == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=kw.get("min", "auto"),
                                                      reduction_factor=kw.get("rf", 4))
    raise SystemExit(f"unknown pruner {text!r}")


def run_one(pruner: str, threads: int, epochs: int, folder: Path, study_file: Path,
            data_dir: Path) -> dict[str, Any]:
    """Run the LR study with ``pruner``; time the engine around fit()."""
    import optuna

    from ablation.engine.options import RunOptions
    from ablation.engine.trials.worker import run_study
    from ablation.sampling.pruners import PRUNERS, PrunerInfo
    from ablation.spec.files import load_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_study(str(study_file))
    name = pruner.split(":")[0]
    tag = pruner.replace(":", "_").replace("=", "")
    if ":" in pruner:  # a parameterised variant, registered for this run only
        name = f"bench-{tag}"
        if name not in PRUNERS:
            PRUNERS.add(name, PrunerInfo(name, lambda: custom_pruner(pruner)))
    spec = replace(spec, pruner=name, baseline=replace(spec.baseline, epochs=epochs))
    url = f"sqlite:///{folder / f'{tag}.db'}"
    options = RunOptions(storage_url=url, artifacts_dir=folder / f"artifacts-{tag}",
                         data_dir=data_dir, threads=threads)
    watch = Stopwatch()
    t0 = time.perf_counter()
    summary = run_study(spec, options, watch)
    wall = time.perf_counter() - t0
    study = optuna.load_study(study_name=spec.storage_name, storage=url)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = max(done, key=lambda t: t.value)
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    training = watch.fit_seconds - watch.callback_seconds
    return {"pruner": pruner, "trials": summary.ran, "pruned": pruned, "epochs": watch.epochs,
            "best_lr": best.params["lr"], "best_val": best.value, "wall": wall,
            "training": training, "overhead": wall - training,
            "callback": watch.callback_seconds, "curves": watch.curves}


def render(results: list[dict[str, Any]], meta: dict[str, str]) -> str:
    """Markdown tables: pruners, then overhead."""
    full = results[0]
    lines = [f"- command: `{meta['command']}`", f"- date (UTC): {meta['date']}",
             f"- threads: {meta['threads']}; loadavg before / after: {meta['load_before']} / "
             f"{meta['load_after']}", f"- study: `{meta['study']}` ({meta['epochs']} epochs, "
             "1 seed, 9 LRs)", "",
             "| pruner | trials | pruned | epochs trained | share of grid's epochs | best lr "
             "| best val acc | same best as grid |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        same = r["best_lr"] == full["best_lr"]
        lines.append(f"| {r['pruner']} | {r['trials']} | {r['pruned']} | {r['epochs']} | "
                     f"{r['epochs'] / full['epochs']:.0%} | {r['best_lr']:g} | "
                     f"{r['best_val']:.4f} | {'yes' if same else 'no'} |")
    lines += ["", "| pruner | run_study wall s | training s (inside fit) | engine overhead s | "
              "of which per-epoch callback s | overhead share | overhead per trial ms |",
              "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['pruner']} | {r['wall']:.1f} | {r['training']:.1f} | "
                     f"{r['overhead']:.2f} | {r['callback']:.2f} | "
                     f"{r['overhead'] / r['wall']:.1%} | "
                     f"{1000 * r['overhead'] / r['trials']:.0f} |")
    lines += ["", "Validation accuracy per epoch (full grid):", ""]
    for lr, curve in sorted(full["curves"].items(), reverse=True):
        lines.append(f"- lr {lr:g}: " + ", ".join(f"{a:.3f}" for a in curve))
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the study once per pruner, print and write the tables."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--pruners", default="none,median,successive-halving")
    p.add_argument("--study", type=Path, default=STUDY)
    p.add_argument("--data-dir", type=Path, default=MNIST)
    p.add_argument("--out", type=Path, default=DOCS)
    args = p.parse_args()
    pin_threads(args.threads)
    meta = {"command": "python " + " ".join(sys.argv), "threads": str(args.threads),
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
            "load_before": loadavg(), "epochs": str(args.epochs), "study": args.study.name}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for pruner in args.pruners.split(","):
            results.append(run_one(pruner, args.threads, args.epochs, Path(tmp), args.study,
                                   args.data_dir))
            r = results[-1]
            print(f"{pruner}: {r['epochs']} epochs, best lr {r['best_lr']:g} "
                  f"({r['best_val']:.4f}), overhead {r['overhead']:.2f} s of {r['wall']:.1f} s",
                  flush=True)
    meta["load_after"] = loadavg()
    text = render(results, meta)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
