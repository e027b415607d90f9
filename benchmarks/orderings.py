"""Which pairwise orderings of study 002's Table 3 hold up over seeds?

Usage: python benchmarks/orderings.py STORAGE_URL STUDY [--metric test_accuracy] [--level 0.05]
       [--margin M]
       python benchmarks/orderings.py --from-doc [--margin M]   (the 21 rows printed in
       docs/results-optimizers-mnist.md, re-read with the four verdicts)

Study 002 ranked the optimizers Nadam > Adamax > Adam > RMSprop > SGD-Nesterov > SGD > Adagrad
from one run each. For every pair (a above b in that chain) this prints Δ = a − b (paired over
shared seeds) with its 95% t-interval, P(a beats b) with its 95% bootstrap interval, the paired
t-test's p, the Holm-adjusted p over the 21 pairs (one family), and whether "a > b" holds (a
significantly better after adjustment), is reversed, is equivalent (TOST within --margin, its
own Holm family), or is inconclusive.
"""

from __future__ import annotations

import argparse
import itertools
import math

import numpy as np
from scipy import stats as _st

from ablation.analysis.contrasts import (
    Pairing,
    contrast,
    equivalence_p,
    paired_differences,
    t_test,
)
from ablation.analysis.metrics import METRICS
from ablation.analysis.stats import BETTER, EQUIVALENT, INCONCLUSIVE, UNTESTED, WORSE, holm
from ablation.analysis.verdicts import detectable_difference, verdict_for
from ablation.engine.results.reader import load_trials, resolve_study_name
from ablation.engine.storage.store import open_store
from ablation.reporting.summary import summary_rows

CHAIN = ("nadam", "adamax", "adam", "rmsprop", "sgd-nesterov", "sgd", "adagrad")  # study 002


def _p(p: float) -> str:
    return "—" if p != p else "<0.001" if p < 0.001 else f"{p:.3f}"


def ordering_verdicts(diffs: list[np.ndarray], level: float, margin: float | None,
                      ) -> list[tuple[str, float, float, float]]:
    """Four-verdict reading of each pair's per-seed differences a − b (one Holm family for the
    difference tests, one for the equivalence tests, as ``analysis.verdicts`` does for the
    comparisons with a baseline): (verdict, p, p adj., equivalence p adj.)."""
    pairs = [Pairing(True, d, np.zeros_like(d)) for d in diffs]
    tests = [t_test(p) for p in pairs]
    ps = [t.p if t else float("nan") for t in tests]
    adjusted = holm(ps)
    equiv = holm([equivalence_p(p, margin) for p in pairs])
    return [(UNTESTED if math.isnan(p) else verdict_for(float(d.mean()), pa, level, True, pe),
             p, pa, pe) for d, p, pa, pe in zip(diffs, ps, adjusted, equiv, strict=True)]


HELD = {BETTER: "holds", WORSE: "reversed", EQUIVALENT: "equivalent",
        INCONCLUSIVE: "inconclusive", UNTESTED: "untested"}

# docs/results-optimizers-mnist.md, "Study 002's 21 orderings" (issue-15 run, 5 paired seeds):
# Δ = a − b with its 95% t interval, rounded to 2 decimals as printed there.
DOC_ROWS = [
    ("nadam", "adamax", 3.02, 2.44, 3.60), ("nadam", "adam", 0.82, 0.42, 1.22),
    ("nadam", "rmsprop", 1.81, 0.53, 3.09), ("nadam", "sgd-nesterov", 33.86, 31.07, 36.64),
    ("nadam", "sgd", 35.13, 32.52, 37.75), ("nadam", "adagrad", 5.05, 4.24, 5.85),
    ("adamax", "adam", -2.20, -2.74, -1.66), ("adamax", "rmsprop", -1.21, -2.44, 0.01),
    ("adamax", "sgd-nesterov", 30.84, 28.11, 33.56), ("adamax", "sgd", 32.11, 29.59, 34.64),
    ("adamax", "adagrad", 2.03, 1.67, 2.39), ("adam", "rmsprop", 0.99, -0.14, 2.12),
    ("adam", "sgd-nesterov", 33.04, 30.36, 35.71), ("adam", "sgd", 34.31, 31.78, 36.85),
    ("adam", "adagrad", 4.23, 3.53, 4.93), ("rmsprop", "sgd-nesterov", 32.05, 28.39, 35.71),
    ("rmsprop", "sgd", 33.32, 29.78, 36.87), ("rmsprop", "adagrad", 3.24, 1.93, 4.55),
    ("sgd-nesterov", "sgd", 1.28, 0.91, 1.65), ("sgd-nesterov", "adagrad", -28.81, -31.37, -26.25),
    ("sgd", "adagrad", -30.08, -32.46, -27.71)]


def from_summary(diff: float, low: float, high: float, n: int = 5) -> np.ndarray:
    """n per-seed differences with the printed mean and the sd its 95% t interval implies
    (the paired t-test and TOST read only the mean, the sd and n)."""
    sd = (high - low) / 2 / float(_st.t.ppf(0.975, n - 1)) * math.sqrt(n)
    z = np.linspace(-1, 1, n)
    return diff + sd * (z - z.mean()) / z.std(ddof=1)


def reread_doc(level: float, margin: float | None) -> None:
    """The doc's 21 orderings through the four verdicts (from its printed summaries)."""
    diffs = [from_summary(d, lo, hi) for _, _, d, lo, hi in DOC_ROWS]
    print(f"| study 002 says | Δ [95% CI] | p adj. (Holm, 21) | equiv. p adj. (±{margin}) "
          "| verdict | detectable |Δ| |")
    print("|---|---:|---:|---:|---|---:|")
    for (a, b, d, lo, hi), x, (v, _, pa, pe) in zip(DOC_ROWS, diffs,
                                                   ordering_verdicts(diffs, level, margin),
                                                   strict=True):
        pair = {i: float(val) for i, val in enumerate(x)}
        zero = dict.fromkeys(pair, 0.0)
        det = detectable_difference(pair, zero, level / len(DOC_ROWS))
        shown = f"{det:.2f}" if v == INCONCLUSIVE else ""
        print(f"| {a} > {b} | {d:+.2f} [{lo:+.2f}, {hi:+.2f}] | {_p(pa)} | {_p(pe)} | "
              f"{HELD[v]} | {shown} |")


def main() -> None:
    """Print one Markdown row per pair of the chain."""
    ap = argparse.ArgumentParser()
    ap.add_argument("storage", nargs="?")
    ap.add_argument("study", nargs="?")
    ap.add_argument("--metric", default="test_accuracy")
    ap.add_argument("--level", type=float, default=0.05)
    ap.add_argument("--margin", type=float, default=None,
                    help="equivalence margin (display units); default: none")
    ap.add_argument("--from-doc", action="store_true",
                    help="re-read the 21 orderings printed in docs/results-optimizers-mnist.md")
    args = ap.parse_args()
    if args.from_doc:
        reread_doc(args.level, args.margin)
        return
    store = open_store(args.storage)
    name = resolve_study_name(store, args.study)
    rows = {r.label: r.samples[args.metric]
            for r in summary_rows(load_trials(store, name), args.metric, n_resamples=0)}
    info = METRICS.get(args.metric)
    pairs = [(a, b) for a, b in itertools.combinations(CHAIN, 2) if a in rows and b in rows]
    sign = 1 if info.higher_is_better else -1
    diffs = [sign * np.array(list(paired_differences(rows[a], rows[b]).values()))
             for a, b in pairs]
    print(f"| study 002 says | Δ {info.label} [95% CI] | P(a beats b) [95% CI] | pairs | p "
          f"| p adj. (Holm, {len(pairs)} pairs) | holds? |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for (a, b), (v, p, p_adj, _) in zip(pairs, ordering_verdicts(diffs, args.level,
                                                                 args.margin), strict=True):
        c = contrast(rows[a], rows[b], info.higher_is_better, info.bounds())
        print(f"| {a} > {b} | {c.diff:+.2f} [{c.t_ci.low:+.2f}, {c.t_ci.high:+.2f}] | "
              f"{c.p_improve:.2f} [{c.p_improve_ci.low:.2f}, {c.p_improve_ci.high:.2f}] | "
              f"{c.n} | {_p(p)} | {_p(p_adj)} | {HELD[v]} |")


if __name__ == "__main__":
    main()
