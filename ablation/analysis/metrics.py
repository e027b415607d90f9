"""METRICS: every number a trial records, with its direction, unit, label and range.

The one source of truth for a metric: spec validation (which metrics a study may select on),
the per-epoch value reported to Optuna and its pruners, statistics (direction, range to clip CIs
to), tables (label, unit, decimals, percent or not), the CLI's ``--metric`` choices and the names
Optuna and optuna-dashboard show all read this registry.

Accuracies are stored as fractions and shown in percent, as the seed papers' tables show them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ablation.registry import Registry

MAXIMIZE, MINIMIZE = "maximize", "minimize"
VAL, TEST = "val", "test"  # the splits whose labels a metric is computed from


@dataclass(frozen=True)
class MetricInfo:
    """One recorded metric.

    ``epoch``: the EpochRecord field reported to Optuna after every epoch for a study that selects
    on this metric (its validation-split counterpart), or None where nothing per-epoch stands for
    it (then pruners cannot be used). ``reported``: the metric a study's table compares with the
    baseline when the study selects on this one: selection is on the validation split, tables
    report the held-out test counterpart (as the seed papers' tables do). ``split``: the split
    whose labels the metric is computed from (VAL, TEST), or None where no labels enter it
    (times, sizes). ``from_artifact``: measured on the reloaded compressed artifact
    (compression/evaluate.CompressionResult), so recorded only by a trial that writes one.
    """

    name: str
    label: str
    direction: str
    unit: str = ""
    percent: bool = False  # stored as a fraction, shown x 100
    digits: int = 4
    low: float = -math.inf  # the range of possible values, in stored units (CIs are clipped to it)
    high: float = math.inf
    integer: bool = False
    selectable: bool = False  # may be a study's metric
    epoch: str | None = None
    reported: str | None = None  # None: the metric itself
    in_table: bool = False  # a column of the terminal/Markdown table when a trial recorded it
    split: str | None = None
    from_artifact: bool = False

    @property
    def higher_is_better(self) -> bool:
        """True for metrics to maximise."""
        return self.direction == MAXIMIZE

    @property
    def compared(self) -> str:
        """The metric a table compares for a study that selects on this one."""
        return self.reported or self.name

    @property
    def header(self) -> str:
        """Column header: the label with its unit."""
        unit = "%" if self.percent else self.unit
        return f"{self.label} ({unit})" if unit else self.label

    def shown(self, value: float) -> float:
        """The value in display units (percent for accuracies)."""
        return value * 100 if self.percent else value

    def bounds(self) -> tuple[float, float]:
        """The metric's range in display units."""
        return self.shown(self.low), self.shown(self.high)


METRICS: Registry[MetricInfo] = Registry("metric")


def _add(*infos: MetricInfo) -> None:
    for info in infos:
        METRICS.add(info.name, info)


def _accuracy(name: str, label: str, **kw: object) -> MetricInfo:
    return MetricInfo(name, label, MAXIMIZE, percent=True, digits=2, low=0.0, high=1.0,
                      **kw)  # type: ignore[arg-type]


def _lower(name: str, label: str, unit: str = "", digits: int = 4, **kw: object) -> MetricInfo:
    """A non-negative metric to minimise (losses, times, sizes)."""
    return MetricInfo(name, label, MINIMIZE, unit, digits=digits, low=0.0,
                      **kw)  # type: ignore[arg-type]


# Registration order is table column order: a compression study's artifact columns come right
# after test accuracy, where a terminal table (which shows the first few) keeps them.
_add(
    _accuracy("test_accuracy", "test accuracy", selectable=True, epoch="val_accuracy",
              in_table=True, split=TEST),
    _accuracy("artifact_test_accuracy", "artifact test accuracy", selectable=True,
              epoch="val_accuracy", in_table=True, split=TEST, from_artifact=True),
    _lower("artifact_bytes", "artifact size", "bytes", 0, integer=True, selectable=True,
           in_table=True, from_artifact=True),
    _lower("latency_ms_b1", "latency, batch 1", "ms", 3, selectable=True, in_table=True,
           from_artifact=True),
    _lower("test_loss", "test loss", selectable=True, epoch="val_loss", in_table=True,
           split=TEST),
    MetricInfo("macro_f1", "macro-F1", MAXIMIZE, digits=4, low=0.0, high=1.0, selectable=True,
               in_table=True, split=TEST),
    _lower("train_seconds", "training time", "s", 1, selectable=True, in_table=True),
    _accuracy("val_accuracy", "validation accuracy", selectable=True, epoch="val_accuracy",
              reported="test_accuracy", split=VAL),
    _lower("val_loss", "validation loss", selectable=True, epoch="val_loss",
           reported="test_loss", split=VAL),
    # The reloaded compressed artifact on the validation split: a compression search selects on
    # it (never on the test split), its tables report artifact_test_accuracy.
    _accuracy("artifact_val_accuracy", "artifact validation accuracy", selectable=True,
              reported="artifact_test_accuracy", split=VAL, from_artifact=True),
    _lower("artifact_ratio", "artifact / fp32 size", digits=3, from_artifact=True),
    _lower("fp32_bytes", "fp32 artifact size", "bytes", 0, integer=True, from_artifact=True),
    MetricInfo("sparsity", "sparsity", MAXIMIZE, percent=True, digits=1, low=0.0, high=1.0,
               from_artifact=True),
    _lower("latency_ms_b256", "latency, batch 256", "ms", 2, selectable=True,
           from_artifact=True),
    _lower("infer_seconds", "inference time, test set", "s", 3),
    _lower("infer_ms_per_image", "inference time per image", "ms", 4),
    _lower("params", "parameters", digits=0, integer=True),
    _lower("state_bytes", "state_dict size", "bytes", 0, integer=True),
    MetricInfo("epochs_run", "epochs run", MAXIMIZE, digits=0, low=0.0, integer=True),
)


def metric(name: str) -> MetricInfo:
    """The registered metric called ``name`` (a UserError listing the known ones otherwise)."""
    return METRICS.get(name)


def selectable() -> list[str]:
    """Names of the metrics a study may select on, in registration order."""
    return [n for n in METRICS if METRICS.get(n).selectable]


def refinable() -> list[str]:
    """The metrics a refined (two-stage) study may choose its second stage by: selectable, on
    the validation split (choosing on the test split would leak), and of the trained model
    itself, not of its compressed artifact (refine is not tested on a compression study)."""
    return [n for n in selectable()
            if METRICS.get(n).split == VAL and not METRICS.get(n).from_artifact]


def table_metrics(recorded: set[str], compared: str) -> list[str]:
    """Table columns: the compared metric first, then every table metric the trials recorded."""
    rest = [n for n in METRICS if METRICS.get(n).in_table and n in recorded and n != compared]
    return [compared, *rest]
