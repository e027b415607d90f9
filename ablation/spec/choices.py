"""Checks of a study's choices against the registries that define them: the METRICS registry
(metric, direction, split, artifact), SAMPLERS and PRUNERS, and the knobs each model and
optimizer reads."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from ablation.analysis.metrics import METRICS, VAL, selectable
from ablation.config.limits import shown
from ablation.config.trainconfig import TrainConfig, writes_artifact
from ablation.errors import UserError
from ablation.models import MODELS
from ablation.registry import Registry
from ablation.sampling.pruners import PRUNERS
from ablation.sampling.samplers import SAMPLERS
from ablation.training.optim import OPTIMIZERS

DIRECTIONS = ("maximize", "minimize")
_DEFAULTS = {f.name: f.default for f in fields(TrainConfig)}


def check_metric(study: Mapping[str, Any], baseline: TrainConfig, where: str
                 ) -> tuple[str, str]:
    """``study.metric`` (a selectable METRICS name) and its direction.

    The direction follows the metric; a ``study.direction`` that contradicts it would make
    Optuna and the pruners prefer the worst trials, so it is refused.
    """
    metric = study.get("metric", "val_accuracy")
    allowed = selectable()
    if metric not in allowed:
        raise UserError(f"{where}: study.metric must be one of {', '.join(allowed)}, "
                        f"got {metric!r}")
    direction = METRICS.get(metric).direction
    given = study.get("direction", direction)
    if given not in DIRECTIONS:
        raise UserError(f"{where}: study.direction must be one of {', '.join(DIRECTIONS)}, "
                        f"got {given!r}")
    if given != direction:
        raise UserError(f"{where}: study.direction {given!r} contradicts study.metric "
                        f"{metric!r}, which is to {direction}; drop study.direction")
    if METRICS.get(metric).from_artifact and not writes_artifact(baseline):
        raise UserError(f"{where}: study.metric {metric!r} is measured on a compressed "
                        "artifact; set baseline.artifact = true (or prune/quantize/dst_sparsity)")
    return metric, direction


def check_validation_split(metric: str, fractions: set[float], where: str) -> None:
    """A study selected on the validation split needs one: val_fraction = 0 leaves it empty,
    and every trial would score 0 on it (NaN on its compressed artifact: every trial fails)."""
    if METRICS.get(metric).split == VAL and 0 in fractions:
        raise UserError(f"{where}: study.metric {metric!r} is measured on the validation split, "
                        "but val_fraction = 0 leaves it empty; set val_fraction > 0 or choose a "
                        "test metric")


def check_search(study: Mapping[str, Any], ranged: bool, metric: str, where: str,
                 objectives: Sequence[str] = ()) -> tuple[str, str]:
    """``study.sampler`` and ``study.pruner``, checked against what the engine runs.

    ``ranged``: the study has low/high axes, which need a sampler that searches ranges.
    ``objectives``: a multi-objective search, which needs a sampler that handles several
    objectives and cannot be pruned (Optuna prunes on one reported value).
    """
    sampler = study.get("sampler", "grid")
    if sampler not in SAMPLERS:
        raise UserError(f"{where}: study.sampler must be one of {', '.join(SAMPLERS.names())}, "
                        f"got {sampler!r}")
    if ranged and not SAMPLERS.get(sampler).searches_ranges:
        searching = [n for n in SAMPLERS if SAMPLERS.get(n).searches_ranges]
        raise UserError(f"{where}: low/high axes need a sampler that searches ranges "
                        f"({', '.join(searching) or 'none in this version'}); sampler "
                        f"{sampler!r} runs listed values: give the axis 'choices'")
    if objectives and not SAMPLERS.get(sampler).multi_objective:
        several = [n for n in SAMPLERS if SAMPLERS.get(n).multi_objective]
        raise UserError(f"{where}: study.objectives needs a sampler for several objectives "
                        f"({', '.join(several)}); got {sampler!r}")
    pruner = study.get("pruner", "none")
    if objectives and pruner != "none":
        raise UserError(f"{where}: study.pruner {pruner!r}: a multi-objective search cannot be "
                        "pruned (Optuna prunes on one value); drop study.pruner")
    if pruner not in PRUNERS:
        raise UserError(f"{where}: study.pruner must be one of {', '.join(PRUNERS.names())}, "
                        f"got {pruner!r}")
    if pruner != "none" and METRICS.get(metric).epoch is None:
        raise UserError(f"{where}: study.pruner {pruner!r} needs a metric measured every "
                        f"epoch; {metric!r} is measured once per trial")
    return str(sampler), str(pruner)


@dataclass(frozen=True)
class Reader:
    """A TrainConfig key naming a component (model, optimizer) whose registry entry lists the
    knobs it reads in ``uses``."""

    key: str
    uses: Callable[[str], tuple[str, ...]]

    def knobs(self, registry: Registry[Any]) -> tuple[str, ...]:
        """Every knob some registered component reads, in TrainConfig's order."""
        read = {k for name in registry for k in self.uses(name)}
        return tuple(k for k in _DEFAULTS if k in read)


READERS = (Reader("model", lambda name: MODELS.get(name).uses),
           Reader("optimizer", lambda name: OPTIMIZERS.get(name).uses))
MODEL_KNOBS = READERS[0].knobs(MODELS)
KNOBS = {"model": MODEL_KNOBS, "optimizer": READERS[1].knobs(OPTIMIZERS)}


def _readers_of(reader: Reader, baseline: TrainConfig, axes: Sequence[Any], mode: str,
                axis: str) -> set[str]:
    """The components (models, optimizers) the configurations that vary ``axis`` run."""
    own = getattr(baseline, reader.key)
    if mode != "factorial":
        return {own}
    return set(next((a.choices for a in axes if a.name == reader.key), (own,)))


def check_knobs(baseline: TrainConfig, axes: Sequence[Any], mode: str, where: str) -> None:
    """A knob the model or the optimizer does not read may be neither varied nor set away from
    its default: the study would train identical models and report "indistinguishable", a
    false finding (momentum for adam, blocks for cnn)."""
    for reader in READERS:
        for axis in axes:
            if axis.name not in KNOBS[reader.key]:
                continue
            for name in sorted(_readers_of(reader, baseline, axes, mode, axis.name)):
                if axis.name not in reader.uses(name):
                    raise UserError(
                        f"{where}: axes.{axis.name}: {reader.key} {name!r} does not read "
                        f"{axis.name} (it reads: {', '.join(reader.uses(name)) or 'none'}); "
                        f"vary a key the {reader.key} reads or choose another {reader.key}")
        _check_baseline_knobs(reader, baseline, where)


def _check_baseline_knobs(reader: Reader, baseline: TrainConfig, where: str) -> None:
    name = getattr(baseline, reader.key)
    uses = reader.uses(name)
    unread = [k for k in KNOBS[reader.key]
              if k not in uses and getattr(baseline, k) != _DEFAULTS[k]]
    if unread:
        k = unread[0]
        raise UserError(f"{where}: baseline.{k} = {getattr(baseline, k)!r}: {reader.key} "
                        f"{name!r} does not read {k} (it reads: {', '.join(uses) or 'none'}); "
                        f"remove the key or choose a {reader.key} that reads it")


def parse_margin(raw: Any, where: str, key: str = "study.margin") -> float | None:
    """An equivalence margin: None when not given, else a finite number > 0 (in the compared
    metric's displayed unit)."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not 0 < raw < math.inf:
        raise UserError(f"{where}: {key} must be a number > 0 in the compared metric's "
                        f"displayed unit (e.g. 0.3 accuracy points), got {shown(raw)}")
    return float(raw)
