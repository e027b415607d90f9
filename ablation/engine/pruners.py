"""PRUNERS registry: Optuna pruners a study may name as ``study.pruner``.

A pruner stops a trial early on the per-epoch value the engine reports, which is the study
metric's validation-split counterpart (METRICS[metric].epoch); a metric without one cannot be
pruned on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import optuna

from ablation.registry import Registry


@dataclass(frozen=True)
class PrunerInfo:
    """A registered pruner and how to build it."""

    name: str
    build: Callable[[], optuna.pruners.BasePruner]
    note: str = ""


PRUNERS: Registry[PrunerInfo] = Registry("pruner")

PRUNERS.add("none", PrunerInfo("none", optuna.pruners.NopPruner, "every trial runs to the end"))
# The "median" row of docs/results-pruners-mnist.md is measured with these settings.
PRUNERS.add("median", PrunerInfo(
    "median", lambda: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
    "stop a trial below the median of earlier trials at the same epoch"))
PRUNERS.add("successive-halving", PrunerInfo(
    "successive-halving", optuna.pruners.SuccessiveHalvingPruner,
    "asynchronous successive halving (Li et al. 2020)"))
