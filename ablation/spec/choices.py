"""Checks of a study's choices against the registries that define them: the METRICS registry
(metric, direction), the engine's SAMPLERS and PRUNERS, and each model's knobs (MODELS).

spec/ sits below the components it names, so registries other than METRICS are imported inside
the functions that read them: no module-level import of spec/ points upward.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from ablation.analysis.metrics import METRICS, selectable
from ablation.config.trainconfig import TrainConfig, writes_artifact
from ablation.errors import UserError

# TrainConfig keys that only a model reads (ModelInfo.uses lists which of them a model reads).
MODEL_KNOBS = ("activation", "width", "blocks", "dropout")
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
    if metric.startswith("artifact_") and not writes_artifact(baseline):
        raise UserError(f"{where}: study.metric {metric!r} is measured on a compressed "
                        "artifact; set baseline.artifact = true (or prune/quantize/dst_sparsity)")
    return metric, direction


def check_search(study: Mapping[str, Any], ranged: bool, metric: str, where: str,
                 objectives: Sequence[str] = ()) -> tuple[str, str]:
    """``study.sampler`` and ``study.pruner``, checked against what the engine runs.

    ``ranged``: the study has low/high axes, which need a sampler that searches ranges.
    ``objectives``: a multi-objective search, which needs a sampler that handles several
    objectives and cannot be pruned (Optuna prunes on one reported value).
    """
    from ablation.sampling.pruners import PRUNERS
    from ablation.sampling.samplers import SAMPLERS

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


def _models_of(baseline: TrainConfig, axes: Sequence[Any], mode: str, axis: str) -> set[str]:
    """The models the configurations that vary ``axis`` run."""
    if mode != "factorial":
        return {baseline.model}
    models = next((a.choices for a in axes if a.name == "model"), (baseline.model,))
    return set(models)


def _uses(model: str) -> tuple[str, ...]:
    from ablation.models import MODELS

    return MODELS.get(model).uses


def check_model_knobs(baseline: TrainConfig, axes: Sequence[Any], mode: str, where: str) -> None:
    """A knob a model does not read may be neither varied nor set away from its default: the
    study would train identical models and report "indistinguishable", a false finding."""
    for axis in axes:
        if axis.name not in MODEL_KNOBS:
            continue
        for model in sorted(_models_of(baseline, axes, mode, axis.name)):
            if axis.name not in _uses(model):
                raise UserError(f"{where}: axes.{axis.name}: model {model!r} does not read "
                                f"{axis.name} (it reads: {', '.join(_uses(model)) or 'none'}); "
                                "vary a key the model reads or choose another model")
    unread = [k for k in MODEL_KNOBS if k not in _uses(baseline.model)
              and getattr(baseline, k) != _DEFAULTS[k]]
    if unread:
        k = unread[0]
        raise UserError(f"{where}: baseline.{k} = {getattr(baseline, k)!r}: model "
                        f"{baseline.model!r} does not read {k} (it reads: "
                        f"{', '.join(_uses(baseline.model)) or 'none'}); remove the key or "
                        "choose a model that reads it")

