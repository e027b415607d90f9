"""Engine overhead and pruners, measured inside real run_study calls on a temporary SQLite file.

For each pruner (none, median, successive-halving) the LR study in benchmarks/lr-pruning.toml runs
through ablation.engine.run_study with the real trainer wrapped in a stopwatch. Reported per pruner:
epochs trained, best LR and its validation accuracy, and the engine's overhead: wall time of
run_study minus the time spent training inside fit(). The per-epoch callback (our epoch row,
Optuna's report and should_prune) runs inside fit() but is engine work, so it is timed on its own
and counted as overhead.

    flock /tmp/ablate-heavy.lock python benchmarks/bench_engine.py --threads 2
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

from benchmarks._common import loadavg, pin_threads  # noqa: E402

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

    def __call__(self, config: Any, seed: int, *, data_dir: Path, on_epoch: Any) -> Any:
        from ablation.training import fit

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
            return fit(config, seed, data_dir=data_dir, on_epoch=timed_on_epoch)
        finally:
            self.fit_seconds += time.perf_counter() - t0


def run_one(pruner: str, threads: int, epochs: int, folder: Path) -> dict[str, Any]:
    """Run the LR study with ``pruner``; time the engine around fit()."""
    import optuna

    from ablation.engine.runner import RunOptions, run_study
    from ablation.spec import load_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_study(str(STUDY))
    spec = replace(spec, pruner=pruner, baseline=replace(spec.baseline, epochs=epochs))
    url = f"sqlite:///{folder / f'{pruner}.db'}"
    options = RunOptions(storage_url=url, artifacts_dir=folder / f"artifacts-{pruner}",
                         data_dir=folder / "data", threads=threads)
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
             f"{meta['load_after']}", f"- study: `{STUDY.name}` (digits, resnet-lite, nadam, "
             f"{meta['epochs']} epochs, 1 seed, 9 LRs)", "",
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
    p.add_argument("--out", type=Path, default=DOCS)
    args = p.parse_args()
    pin_threads(args.threads)
    meta = {"command": "python " + " ".join(sys.argv), "threads": str(args.threads),
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
            "load_before": loadavg(), "epochs": str(args.epochs)}
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for pruner in args.pruners.split(","):
            results.append(run_one(pruner, args.threads, args.epochs, Path(tmp)))
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
