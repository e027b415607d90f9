"""PRUNERS registry: Optuna pruners a study may name as ``study.pruner``.

A pruner stops a trial early on the per-epoch value the engine reports, which is the study
metric's validation-split counterpart (METRICS[metric].epoch); a metric without one cannot be
pruned on.

Not registered: Optuna's WilcoxonPruner. It tests, instance by instance, whether a trial's scores
on a fixed set of problem instances (folds, data subsets) are worse than the best trial's; the
values ablate reports are one learning curve, epoch after epoch, which converges and whose
points are neither instances nor independent, so the test's p-value would mean nothing here.
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
# Hyperband (Li et al. 2018) runs several successive-halving brackets that differ in how early
# they stop trials; the resource is the epoch (min 1, max: the first trial's epochs).
PRUNERS.add("hyperband", PrunerInfo(
    "hyperband", lambda: optuna.pruners.HyperbandPruner(min_resource=1, reduction_factor=3),
    "Hyperband: successive-halving brackets over epochs (Li et al. 2018)"))
