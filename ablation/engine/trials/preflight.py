"""Checks made before a study stores anything: what its points train on, what storage keeps of
them, and whether the machine can run the workers asked for."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

from ablation.config.limits import MAX_LABEL
from ablation.errors import UserError
from ablation.spec.space import Point


def check_points(points: Sequence[Point], data_dir: Path) -> None:
    """Every split a point trains, selects or tests on is non-empty, and every label fits the
    points table (VARCHAR(256) on PostgreSQL and MySQL)."""
    for p in points:
        if len(p.label) > MAX_LABEL:
            raise UserError(f"study configuration {p.label[:60]}...: its label is "
                            f"{len(p.label)} characters long; storage keeps {MAX_LABEL} (fewer "
                            "or shorter factorial axes)")
    from ablation.data.datasets import make_splits  # torch: not for workers that only claim

    splits = {(p.config.dataset, p.config.val_fraction, p.config.train_limit) for p in points}
    for dataset, val_fraction, train_limit in sorted(splits):
        make_splits(dataset, data_dir, val_fraction, train_limit)


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def warn_oversubscribed(workers: int, threads: int, available: int | None = None) -> None:
    """Warn (once, one line) when workers x threads exceeds the cores: every step slows down."""
    have = available or cores()
    if threads and workers * threads > have:
        warnings.warn(f"{workers} worker(s) x {threads} torch thread(s) = {workers * threads} "
                      f"threads on {have} core(s): every step gets slower, not faster; use "
                      f"--threads {max(1, have // workers)}", stacklevel=2)
