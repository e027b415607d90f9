"""Per cell: how much of the spread of test accuracy over seeds the finite test set alone
explains (Jordan 2023), from stored per-example predictions where every run of the cell has
them, else the binomial bound from the accuracies and the test set's size. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ablation.analysis.evalnoise import (
    NoiseShare,
    finite_test_noise,
    finite_test_noise_examples,
)
from ablation.analysis.records import Evidence, TrialRecord, cell_name
from ablation.reporting.text import TextTable

NOISE_METRIC = "test_accuracy"  # the predictions stored are the trained model's on the test set


NO_EVIDENCE = Evidence()


def cell_noise(members: Sequence[TrialRecord], evidence: Evidence,
               seed: int = 0) -> NoiseShare | None:
    """The test-set share of one cell's variance of test accuracy (percent units), or None
    when fewer than 2 runs have it or nothing says how large the test set was."""
    runs = [t for t in members if t.state == "complete" and NOISE_METRIC in t.metrics]
    if len(runs) < 2:
        return None
    stored = [evidence.correct.get(t.number) for t in runs]
    if all(s is not None for s in stored):
        digests = {s[0] for s in stored if s is not None}
        sizes = {s[1].size for s in stored if s is not None}
        if len(digests) == 1 and len(sizes) == 1:  # one test set: Jordan's per-example term
            correct = np.stack([s[1] for s in stored if s is not None])
            return finite_test_noise_examples(correct, scale=100.0, seed=seed)
    sizes = {evidence.n_test[t.number] for t in runs if t.number in evidence.n_test}
    if len(sizes) != 1 or min(sizes) < 1:
        return None
    return finite_test_noise([t.metrics[NOISE_METRIC] * 100 for t in runs], sizes.pop(),
                             scale=100.0)


def noise_by_cell(trials: Sequence[TrialRecord], evidence: Evidence,
                  seed: int = 0) -> dict[tuple[str, str], NoiseShare | None]:
    """(axis, value) -> the cell's test-set noise share, for every cell with complete trials."""
    cells: dict[tuple[str, str], list[TrialRecord]] = {}
    for t in sorted(trials, key=lambda t: t.number):
        if t.state == "complete":
            cells.setdefault((t.axis, t.label), []).append(t)
    return {key: cell_noise(members, evidence, seed) for key, members in cells.items()}


def noise_table(study: str, trials: Sequence[TrialRecord], evidence: Evidence) -> TextTable:
    """Per cell with >= 2 runs: the observed sd of test accuracy over seeds, the sd a finite
    test set alone gives, the share of variance that explains, its CI and the method."""
    rows = []
    for (axis, label), s in noise_by_cell(trials, evidence).items():
        if s is None:
            continue
        share = "—" if s.share != s.share else f"{s.share:.2f}"
        ci = ("—" if s.share_ci.low != s.share_ci.low
              else f"[{s.share_ci.low:.2f}, {s.share_ci.high:.2f}]")
        rows.append((cell_name(axis, label),
                     str(s.runs), f"{s.n_test:,}", f"{s.observed_var ** 0.5:.3f}",
                     f"{s.test_var ** 0.5:.3f}", share, ci, s.method))
    return TextTable(f"{study}: test-set noise", (
        "configuration", "runs", "test images", "sd over seeds (points)",
        "sd from the test set alone", "share of variance", "95% CI of share", "method"),
        tuple(rows), NOISE_NOTES, (False, *(True for _ in range(6)), False))


NOISE_NOTES = (
    "Share: the variance a finite test set alone gives a run's test accuracy (Jordan 2023) "
    "over the observed variance over seeds. per-example: from the stored predictions, "
    "Σ p_i(1−p_i)/n² with p_i each example's error rate over the runs; binomial: p(1−p)/n at "
    "the mean accuracy, an upper bound (no predictions stored). Near 1: the seeds differ about "
    "as much as re-drawing the test set would make them, and a larger test set, not more "
    "seeds, would separate such configurations. The CI (chi-square over the few seeds) is "
    "wide with 3-5 seeds.",)
