"""Which pairwise orderings of study 002's Table 3 hold up over seeds?

Usage: python benchmarks/orderings.py STORAGE_URL STUDY [--metric test_accuracy] [--level 0.05]

Study 002 ranked the optimizers Nadam > Adamax > Adam > RMSprop > SGD-Nesterov > SGD > Adagrad
from one run each. For every pair (a above b in that chain) this prints the difference of the
means, the test used (paired where the seeds match), its p-value and whether "a > b" holds
(a significantly better), is reversed (b significantly better) or is not distinguishable.
"""

from __future__ import annotations

import argparse
import itertools

from ablation.analysis.stats import BETTER, WORSE, compare, higher_is_better
from ablation.engine.reader import load_trials, resolve_study_name
from ablation.engine.store import open_store
from ablation.reporting.summary import summary_rows

CHAIN = ("nadam", "adamax", "adam", "rmsprop", "sgd-nesterov", "sgd", "adagrad")  # study 002


def main() -> None:
    """Print one Markdown row per pair of the chain."""
    ap = argparse.ArgumentParser()
    ap.add_argument("storage")
    ap.add_argument("study")
    ap.add_argument("--metric", default="test_accuracy")
    ap.add_argument("--level", type=float, default=0.05)
    args = ap.parse_args()
    name = resolve_study_name(open_store(args.storage), args.study)
    rows = {r.label: r for r in summary_rows(load_trials(open_store(args.storage), name))}
    up = higher_is_better(args.metric)
    print(f"| study 002 says | Δ mean ({args.metric}) | n | test | p | holds? |")
    print("|---|---:|---:|---|---:|---|")
    for a, b in itertools.combinations(CHAIN, 2):
        if a not in rows or b not in rows:
            print(f"| {a} > {b} | — | — | — | — | not run |")
            continue
        c = compare(rows[a].samples[args.metric], rows[b].samples[args.metric], up, args.level)
        verdict = {BETTER: "holds", WORSE: "reversed"}.get(
            c.verdict, c.verdict + (f" ({c.note})" if c.note else ""))
        p = "—" if c.p != c.p else f"{c.p:.3f}"
        print(f"| {a} > {b} | {c.diff:+.2f} | {rows[a].n}/{rows[b].n} | {c.test or '—'} | {p} "
              f"| {verdict} |")


if __name__ == "__main__":
    main()
