"""The one Pareto front: (accuracy up, bytes down) points, and a study's front by configuration.
Pure: no I/O."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ablation.analysis.records import TrialRecord, cell_name


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """True when ``a`` = (accuracy, bytes) is no worse than ``b`` in both and better in one."""
    return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated (accuracy, bytes) points, smallest bytes first.

    Exact duplicates are all kept: neither dominates the other.
    """
    keep = [i for i, p in enumerate(points)
            if not any(dominates(q, p) for j, q in enumerate(points) if j != i)]
    return sorted(keep, key=lambda i: (points[i][1], -points[i][0]))


@dataclass(frozen=True)
class ParetoRow:
    """One configuration: mean accuracy and bytes over its seeds, and whether it is on the front."""

    label: str
    seeds: int
    artifact_test_accuracy: float
    artifact_bytes: float
    on_front: bool


def front_rows(trials: Sequence[TrialRecord]) -> list[ParetoRow]:
    """Complete trials with artifact metrics, grouped by configuration (means over seeds), with
    the accuracy-vs-bytes front marked."""
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for t in trials:
        if t.state == "complete" and {"artifact_test_accuracy", "artifact_bytes"} <= set(t.metrics):
            groups[cell_name(t.axis, t.label)].append((t.metrics["artifact_test_accuracy"],
                                           t.metrics["artifact_bytes"]))
    labels = sorted(groups)
    means = [(statistics.fmean(a for a, _ in groups[k]), statistics.fmean(b for _, b in groups[k]))
             for k in labels]
    front = set(pareto_front(means))
    return [ParetoRow(k, len(groups[k]), acc, size, i in front)
            for i, (k, (acc, size)) in enumerate(zip(labels, means, strict=True))]
