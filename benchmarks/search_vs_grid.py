"""Search, then confirm, against the grid: figures for docs/results-search.md from two stored runs.

Run the two studies first (the commands are in docs/results-search.md), each into its own
database, then

    python benchmarks/search_vs_grid.py --grid sqlite:///GRID.db --search sqlite:///SEARCH.db \
        --grid-study lr-grid-mnist --search-study lr-search-mnist

prints, for each: trials run, wall time (first trial's start to last trial's finish, from
ablate_runs), summed training seconds, the best learning rate it finds, and the verdict of its
winner against the baseline (test accuracy, paired t-test over seeds at level 0.05).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import optuna  # noqa: E402

from ablation.engine.results.reader import load_trials  # noqa: E402
from ablation.engine.storage import db  # noqa: E402
from ablation.engine.storage.store import open_store  # noqa: E402
from ablation.reporting.summary import compare_rows, summary_rows  # noqa: E402
from benchmarks._common import loadavg  # noqa: E402


def names(store, study: str, stage: str) -> list[str]:
    """``study`` and its second stage ``study + stage``, as far as they are stored."""
    stored = {s.study_name for s in optuna.get_all_study_summaries(store.optuna)}
    return [n for n in (study, study + stage) if n in stored]


def cost(store, studies: list[str]) -> tuple[int, float, float]:
    """(finished trials, wall seconds from first start to last finish, summed train seconds)."""
    runs = [r for s in studies for r in db.runs(store.engine, s) if r["finished"]]
    wall = (max(r["finished"] for r in runs) - min(r["started"] for r in runs)).total_seconds()
    train = sum(t.metrics.get("train_seconds", 0.0) for s in studies
                for t in load_trials(store, s) if t.state in ("complete", "pruned"))
    return len(runs), wall, train


def table(store, name: str) -> list[tuple[str, int, float, str, float]]:
    """(value, n, mean test accuracy %, verdict, p) per row of a stored grid stage."""
    rows = compare_rows(summary_rows(load_trials(store, name)), "test_accuracy")
    return [(c.row.shown_label, c.row.n, c.row.stats["test_accuracy"].mean, c.verdict_text,
             c.comparison.p if c.comparison else float("nan")) for c in rows]


def best_by_val(store, name: str) -> str:
    """The row with the best mean validation accuracy (what the stages select on)."""
    rows = summary_rows(load_trials(store, name))
    best = max(rows, key=lambda r: r.stats["val_accuracy"].mean)
    return f"{best.shown_label} (val {best.stats['val_accuracy'].mean:.2f}%)"


def report(store, label: str, studies: list[str]) -> None:
    n, wall, train = cost(store, studies)
    print(f"## {label}: {', '.join(studies)}")
    print(f"- trials: {n}; wall {wall:.0f} s; training {train:.0f} s (summed over trials)")
    for name in studies:
        print(f"- {name}: best by mean validation accuracy: {best_by_val(store, name)}")
        for value, k, acc, verdict, p in table(store, name):
            if k < 2:  # a search trial: one seed, no verdict; the confirm stage has them
                continue
            print(f"  - {value}: n={k} test acc {acc:.2f}% {verdict} p={p:.3g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", required=True, help="database of the grid `lr` run")
    parser.add_argument("--search", required=True, help="database of the `lr-search` run")
    parser.add_argument("--grid-study", default="lr", help="stored name of the grid study")
    parser.add_argument("--search-study", default="lr-search",
                        help="stored name of the search study")
    args = parser.parse_args()
    print(f"loadavg now: {loadavg()}")
    grid = open_store(args.grid, must_exist=True)
    report(grid, "grid", names(grid, args.grid_study, "/fine"))
    search = open_store(args.search, must_exist=True)
    found = names(search, args.search_study, "/confirm")
    study = optuna.load_study(study_name=found[0], storage=search.optuna)
    best = study.best_trial
    print(f"search best single trial #{best.number}: {best.params} "
          f"val {100 * (best.value or 0):.2f}%")
    report(search, "search", found)


if __name__ == "__main__":
    main()
