"""Typed records that cross boundaries: a trial's metrics, its learning curve, a stored trial.

Metrics go to storage through :func:`encode_metrics` and come back through
:func:`decode_metrics`, which reads only the names in the METRICS registry (so no other numeric
attribute of a trial, such as ``retry_of``, can pass for a metric).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ablation.analysis.metrics import METRICS

# A finished trial's state whose figures are its compressed artifact's (the worker writes them
# after this prefix; displays show them instead of the accuracy before compression).
COMPRESSED = "complete, compressed: "



@dataclass(frozen=True)
class Evidence:
    """What storage holds about trials' test sets: per trial its per-example correctness
    (stored predictions against the stored labels, with the labels' digest: trials compare
    only on one test set) and its test-set size (the confusion matrix's total)."""

    correct: Mapping[int, tuple[str, np.ndarray]] = field(default_factory=dict)
    n_test: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TrialRecord:
    """One stored trial, flattened."""

    number: int
    state: str
    axis: str
    label: str
    seed: int
    params: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    value: float | None = None
    is_baseline: bool = False


SEARCH_AXIS = "search"  # the axis of every trial of a sampled search's search stage
BASELINE = "baseline"  # the axis of the untouched baseline configuration
FACTORIAL = "factorial"  # the axis of every configuration of a factorial study


def cell_name(axis: str, label: str) -> str:
    """A cell's display name: "optimizer=sgd"; the label alone where it already says what
    varies (the baseline, a factorial configuration, a search's "lr=0.01, ...")."""
    if axis in ("", BASELINE, FACTORIAL) or "=" in label:
        return label
    return f"{axis}={label}"


def is_search_stage(trials: Sequence[TrialRecord]) -> bool:
    """Whether ``trials`` are a sampled search's search stage: one seed per sampled
    configuration, nothing to compare seed against seed."""
    return bool(trials) and all(t.axis == SEARCH_AXIS for t in trials)


@dataclass(frozen=True)
class StudyData:
    """Everything a report draws, read from storage in one go."""

    name: str
    trials: list[TrialRecord]
    epochs: list[dict[str, Any]]  # ablate_epochs rows: trial_number, epoch, losses, accuracies
    confusion_trial: int | None  # the trial whose confusion matrix is shown
    confusion: list[list[int]] | None
    importances: dict[str, float] | None  # Optuna parameter importance, where it applies
    importance_note: str | None  # why importance is not shown, where it does not apply
    metric: str = "test_accuracy"  # the metric the study's table compares with the baseline
    spec: dict[str, Any] = field(default_factory=dict)  # the stored study record (baseline, ...)
    runs: list[dict[str, Any]] = field(default_factory=list)  # ablate_runs: environment, dates
    data_sizes: dict[str, int] = field(default_factory=dict)  # train/val/test images
    looks: list[dict[str, Any]] = field(default_factory=list)  # ablate_looks (--until-resolved)
    evidence: Evidence | None = None  # stored predictions and test-set sizes
    points: dict[str, int] = field(default_factory=dict)  # ablate_points per state


def varied_params(trials: Sequence[TrialRecord]) -> list[str]:
    """Parameters (the seed aside) that take more than one value among complete trials."""
    values: dict[str, set[str]] = {}
    for t in trials:
        if t.state == "complete":
            for k, v in t.params.items():
                if k != "seed":
                    values.setdefault(k, set()).add(repr(v))
    return sorted(k for k, vs in values.items() if len(vs) > 1)


def median_trial(trials: Sequence[TrialRecord], metric: str = "test_accuracy") -> int | None:
    """The baseline's median-seed trial on ``metric`` (the lower middle one for an even count,
    lowest number on ties): a typical run, not the luckiest. Without a baseline (factorial
    studies), the median trial of the configuration with the best mean."""
    done = [t for t in trials if t.state == "complete" and metric in t.metrics
            and not math.isnan(t.metrics[metric])]
    cell = [t for t in done if t.is_baseline]
    if not cell and done:
        groups: dict[tuple[str, str], list[TrialRecord]] = {}
        for t in done:
            groups.setdefault((t.axis, t.label), []).append(t)
        sign = 1 if METRICS.get(metric).higher_is_better else -1
        cell = max(groups.values(),
                   key=lambda g: sign * sum(t.metrics[metric] for t in g) / len(g))
    if not cell:
        return None
    ordered = sorted(cell, key=lambda t: (t.metrics[metric], t.number))
    return ordered[(len(ordered) - 1) // 2].number


MIN_IMPORTANCE_TRIALS = 8  # fewer trials give a forest fit that says nothing


def importance_note(trials: Sequence[TrialRecord]) -> str | None:
    """Why parameter importance does not apply to this study, or None when it does."""
    params = varied_params(trials)
    complete = sum(t.state == "complete" for t in trials)
    if len(params) < 2:
        return (f"Parameter importance needs at least two varied parameters; this study varies "
                f"{len(params)} ({', '.join(params) or 'none'}), its bar chart shows its effect.")
    if complete < MIN_IMPORTANCE_TRIALS:
        return (f"Parameter importance needs at least {MIN_IMPORTANCE_TRIALS} complete trials; "
                f"this study has {complete}.")
    return None


@dataclass(frozen=True)
class EpochRecord:
    """One point of the learning curve."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    lr: float
    seconds: float  # training seconds so far (evaluation excluded)


@dataclass(frozen=True)
class Metrics:
    """Final measurements of one trained model."""

    test_loss: float
    test_accuracy: float
    macro_f1: float
    val_loss: float
    val_accuracy: float
    train_seconds: float
    infer_seconds: float  # whole test set
    infer_ms_per_image: float
    params: int
    state_bytes: int  # bytes of the saved state_dict
    epochs_run: int
    confusion: tuple[tuple[int, ...], ...]


def metric_values(record: Any) -> dict[str, float | int]:
    """The registered metrics of a dataclass record (Metrics, CompressionResult), by name."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)
            if f.name in METRICS}


def encode_metrics(values: Mapping[str, float | int]) -> dict[str, float | int]:
    """Metric values as stored (Optuna user attributes): registered names only, integers exact.

    An unregistered name is a programming error, not a user's: it raises ValueError.
    """
    out: dict[str, float | int] = {}
    for name, value in values.items():
        if name not in METRICS:
            raise ValueError(f"{name!r} is not a registered metric")
        out[name] = int(value) if METRICS.get(name).integer else float(value)
    return out


def decode_metrics(attrs: Mapping[str, Any]) -> dict[str, float]:
    """The registered metrics among a stored trial's attributes, as floats."""
    return {name: float(attrs[name]) for name in METRICS
            if isinstance(attrs.get(name), int | float) and not isinstance(attrs[name], bool)}
