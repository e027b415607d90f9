"""SAMPLERS registry, and the grid engine's sampler that "samples" exactly the claimed point.

Why not GridSampler or enqueue_trial: with several workers GridSampler can hand the same grid point
to two of them, and an enqueued trial can be popped by a different worker than the one that
enqueued it. The engine claims points in its own table instead and this sampler only writes the
claimed values into the trial, so Optuna (and optuna-dashboard) still see ordinary parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler

from ablation.registry import Registry
from ablation.spec.study import StudySpec


@dataclass(frozen=True)
class SamplerInfo:
    """A way of choosing trials: its name, whether it searches low/high ranges, its builder."""

    name: str
    searches_ranges: bool
    build: Callable[[StudySpec], BaseSampler]
    note: str = ""


SAMPLERS: Registry[SamplerInfo] = Registry("sampler")


class PointSampler(BaseSampler):
    """Returns the values of the point currently being run (set in ``values`` before ask)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def infer_relative_search_space(self, study: optuna.Study,
                                    trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def sample_independent(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                           param_name: str, param_distribution: BaseDistribution) -> Any:
        return self.values[param_name]


SAMPLERS.add("grid", SamplerInfo(
    "grid", False, lambda spec: PointSampler(),
    "every (configuration, seed) of the axes' choices exactly once, claimed from ablate_points"))


def distributions(spec: StudySpec, params: dict[str, Any]) -> dict[str, BaseDistribution]:
    """Optuna distributions for a point's axis values (the seed is not a parameter).

    Numbers get numeric distributions (whose compatibility does not depend on the range, so a study
    can grow values); strings and booleans are categorical over the axis values. The seed is a
    user attribute instead: as a parameter, Optuna's importance and slice plots (and the
    dashboard's) ranked it as a hyperparameter.
    """
    out: dict[str, BaseDistribution] = {}
    for axis in spec.axes:
        base = getattr(spec.baseline, axis.name)
        values = list(dict.fromkeys([*axis.choices, base]))
        value = params[axis.name]
        if isinstance(value, bool | str):
            out[axis.name] = CategoricalDistribution(sorted(values, key=str))
        elif isinstance(value, int):
            out[axis.name] = IntDistribution(min(values), max(values))
        else:
            positive = min(values) > 0
            out[axis.name] = FloatDistribution(min(values), max(values), log=positive)
    return out
