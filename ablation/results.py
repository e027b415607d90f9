"""Plain records of stored results, shared by the engine (which reads them) and reporting."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Metrics every complete trial carries, in table order.
TABLE_METRICS = ("test_loss", "test_accuracy", "macro_f1", "train_seconds", "val_accuracy",
                 "infer_ms_per_image", "params", "state_bytes")


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
