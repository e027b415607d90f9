"""SAMPLERS registry: the grid engine's sampler that "samples" exactly the claimed point, and
Optuna's samplers for a sampled search over ranges (engine/trials/search.py runs those).

Why not GridSampler or enqueue_trial: with several workers GridSampler can hand the same grid point
to two of them, and an enqueued trial can be popped by a different worker than the one that
enqueued it. The engine claims points in its own table instead and this sampler only writes the
claimed values into the trial, so Optuna (and optuna-dashboard) still see ordinary parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler

from ablation.config.trainconfig import is_int_field
from ablation.registry import Registry

if TYPE_CHECKING:  # for annotations only: spec reads this registry, so it cannot be imported here
    from ablation.spec.study import StudySpec


@dataclass(frozen=True)
class SamplerInfo:
    """A way of choosing trials: its name, whether it searches low/high ranges and several
    objectives, its builder (called with the study and the study's sampler seed) and the
    settings it passes to Optuna's sampler (recorded in every trial's run record)."""

    name: str
    searches_ranges: bool
    build: Callable[[StudySpec, int], BaseSampler]
    note: str = ""
    multi_objective: bool = False
    settings: Callable[[StudySpec], dict[str, Any]] = lambda spec: {}  # passed to the sampler


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
    "grid", False, lambda spec, seed: PointSampler(),
    "every (configuration, seed) of the axes' choices exactly once, claimed from ablate_points"))


def search_space(spec: StudySpec) -> dict[str, BaseDistribution]:
    """Optuna distributions of a sampled search: a range axis is an int or float range (as its
    TrainConfig key is), log-scaled or stepped as stated; a choice axis is categorical."""
    out: dict[str, BaseDistribution] = {}
    for axis in spec.axes:
        if axis.is_grid:
            out[axis.name] = CategoricalDistribution(list(axis.choices))
        elif is_int_field(axis.name):
            assert axis.low is not None and axis.high is not None
            out[axis.name] = IntDistribution(int(axis.low), int(axis.high), log=axis.log,
                                             step=int(axis.step or 1))
        else:
            assert axis.low is not None and axis.high is not None
            out[axis.name] = FloatDistribution(float(axis.low), float(axis.high), log=axis.log,
                                               step=axis.step)
    return out


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


def trial_seed(seed: int, number: int) -> int:
    """The seed of trial ``number``'s draw: fixed by the study's seed and the trial number."""
    return (seed * 1_000_003 + number) % 2**32


class PerTrialSeed(BaseSampler):
    """An Optuna sampler rebuilt before every trial with ``trial_seed(seed, trial.number)``.

    Why: a sampler seeded once draws the same random start-up points in every process that
    builds it, so two workers (or a resumed run) would train the same first configurations
    again. Trial numbers are unique in the study, so the draws differ while a one-process run
    stays reproducible. The samplers keep their state in storage (TPE, GP and random read the
    finished trials; CMA-ES and NSGA-II store theirs in the study), so rebuilding loses nothing.
    """

    def __init__(self, build: Callable[[int], BaseSampler], seed: int) -> None:
        self._build, self._seed = build, seed
        self._inner = build(seed)

    def before_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self._inner = self._build(trial_seed(self._seed, trial.number))
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: optuna.trial.FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                           param_name: str, param_distribution: BaseDistribution) -> Any:
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                    state: optuna.trial.TrialState, values: Sequence[float] | None) -> None:
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()


def startup_trials(spec: StudySpec) -> int:
    """Random trials before a model-based sampler models: Optuna's 10, but at most a third of
    the budget, so a small budget still gets model-based trials."""
    return max(2, min(10, spec.n_trials // 3))


def _searcher(name: str, cls: Callable[..., BaseSampler],
              settings: Callable[[StudySpec], dict[str, Any]], note: str, multi: bool,
              per_trial: bool = True) -> None:
    def build(spec: StudySpec, seed: int) -> BaseSampler:
        def make(s: int) -> BaseSampler:
            return cls(seed=s, **settings(spec))

        return PerTrialSeed(make, seed) if per_trial else make(seed)

    SAMPLERS.add(name, SamplerInfo(name, True, build, note, multi, settings))


def sampler_record(spec: StudySpec) -> dict[str, Any]:
    """What the run record keeps of a study's sampler: its name, seed and every setting."""
    info = SAMPLERS.get(spec.sampler)
    return {"name": info.name, "seed": spec.search_seed if info.searches_ranges else None,
            **info.settings(spec)}


# Every setting is passed, not left to Optuna's defaults: Optuna 5 changed TPE's (multivariate
# and constant liar on), and a study must sample alike under every Optuna version it allows.
# TPE's consider_prior, prior_weight, consider_magic_clip, consider_endpoints, gamma and weights
# are deprecated (4.9) with one value left until they go (6.0); passing them only warns.
_searcher("tpe", optuna.samplers.TPESampler, lambda spec: {
    "n_startup_trials": startup_trials(spec), "n_ei_candidates": 24, "multivariate": True,
    "group": False,
    # constant liar: a running trial counts as a poor result, so parallel workers do not all
    # sample next to the same promising point.
    "constant_liar": True},
    "tree-structured Parzen estimator (Optuna's default; with several objectives too)", True)
_searcher("random", optuna.samplers.RandomSampler, lambda spec: {},
          "independent uniform (log-uniform on log axes) draws", True)
_searcher("cmaes", optuna.samplers.CmaEsSampler, lambda spec: {
    "n_startup_trials": startup_trials(spec), "consider_pruned_trials": False,
    "use_separable_cma": False, "with_margin": False, "lr_adapt": False,
    "warn_independent_sampling": False},
    "CMA-ES over the numeric axes (choice axes drawn at random); one objective; needs cmaes",
    False)
_searcher("gp", optuna.samplers.GPSampler, lambda spec: {
    "n_startup_trials": startup_trials(spec), "deterministic_objective": False,
    "warn_independent_sampling": False},
    "Gaussian-process Bayesian optimisation (torch, scipy)", True)
# QMC keeps one seed in every process: its sequence is shared through the study (each trial
# takes the next index), which only works when every process scrambles it the same way.
_searcher("qmc", optuna.samplers.QMCSampler, lambda spec: {
    "qmc_type": "sobol", "scramble": True, "warn_independent_sampling": False,
    "warn_asynchronous_seeding": False},
    "scrambled Sobol quasi-random points (even coverage; no model)", True, per_trial=False)
_searcher("nsga2", optuna.samplers.NSGAIISampler, lambda spec: {
    "population_size": max(4, min(50, spec.n_trials // 3)), "crossover_prob": 0.9,
    "swapping_prob": 0.5},
    "NSGA-II genetic search (several objectives; a population per generation)", True)
