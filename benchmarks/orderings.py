"""Which pairwise orderings of study 002's Table 3 hold up over seeds?

Usage: python benchmarks/orderings.py STORAGE_URL STUDY [--metric test_accuracy] [--level 0.05]

Study 002 ranked the optimizers Nadam > Adamax > Adam > RMSprop > SGD-Nesterov > SGD > Adagrad
from one run each. For every pair (a above b in that chain) this prints Δ = a − b (paired over
shared seeds) with its 95% t-interval, P(a beats b) with its 95% bootstrap interval, the paired
t-test's p, the Holm-adjusted p over the 21 pairs (one family), and whether "a > b" holds (a
significantly better after adjustment), is reversed, or is not distinguishable.
"""

from __future__ import annotations

import argparse
import itertools

from ablation.analysis.contrasts import contrast, pair_up, t_test
from ablation.analysis.metrics import METRICS
from ablation.analysis.stats import BETTER, WORSE, holm
from ablation.analysis.verdicts import verdict_for
from ablation.engine.results.reader import load_trials, resolve_study_name
from ablation.engine.storage.store import open_store
from ablation.reporting.summary import summary_rows

CHAIN = ("nadam", "adamax", "adam", "rmsprop", "sgd-nesterov", "sgd", "adagrad")  # study 002


def _p(p: float) -> str:
    return "—" if p != p else "<0.001" if p < 0.001 else f"{p:.3f}"


def main() -> None:
    """Print one Markdown row per pair of the chain."""
    ap = argparse.ArgumentParser()
    ap.add_argument("storage")
    ap.add_argument("study")
    ap.add_argument("--metric", default="test_accuracy")
    ap.add_argument("--level", type=float, default=0.05)
    args = ap.parse_args()
    store = open_store(args.storage)
    name = resolve_study_name(store, args.study)
    rows = {r.label: r.samples[args.metric]
            for r in summary_rows(load_trials(store, name), args.metric, n_resamples=0)}
    info = METRICS.get(args.metric)
    pairs = [(a, b) for a, b in itertools.combinations(CHAIN, 2) if a in rows and b in rows]
    tests = [t_test(pair_up(rows[a], rows[b])) for a, b in pairs]
    adjusted = holm([t.p if t else float("nan") for t in tests])
    print(f"| study 002 says | Δ {info.label} [95% CI] | P(a beats b) [95% CI] | pairs | p "
          f"| p adj. (Holm, {len(pairs)} pairs) | holds? |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for (a, b), t, p_adj in zip(pairs, tests, adjusted, strict=True):
        c = contrast(rows[a], rows[b], info.higher_is_better, info.bounds())
        verdict = verdict_for(c.diff, p_adj, args.level, info.higher_is_better)
        held = {BETTER: "holds", WORSE: "reversed"}.get(verdict, "not distinguishable")
        print(f"| {a} > {b} | {c.diff:+.2f} [{c.t_ci.low:+.2f}, {c.t_ci.high:+.2f}] | "
              f"{c.p_improve:.2f} [{c.p_improve_ci.low:.2f}, {c.p_improve_ci.high:.2f}] | "
              f"{c.n} | {_p(t.p if t else float('nan'))} | {_p(p_adj)} | {held} |")


if __name__ == "__main__":
    main()
