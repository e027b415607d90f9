"""Pareto front of (accuracy up, bytes down) points. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Sequence


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
