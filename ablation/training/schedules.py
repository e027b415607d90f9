"""SCHEDULES registry: learning-rate schedules as multipliers of the base LR per optimizer step."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ablation.registry import Registry

Multiplier = Callable[[int], float]


@dataclass(frozen=True)
class Steps:
    """What a schedule may depend on: the run's length, an epoch's length, the warm-up share."""

    total: int
    per_epoch: int
    warmup: float


SCHEDULES: Registry[Callable[[Steps], Multiplier]] = Registry("schedule")


@SCHEDULES.register("onecycle")
def _onecycle(s: Steps) -> Multiplier:
    warm = max(1, int(s.total * s.warmup))

    def at(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, s.total - warm)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return at


@SCHEDULES.register("cosine")
def _cosine(s: Steps) -> Multiplier:
    return lambda step: 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, s.total))))


@SCHEDULES.register("step")
def _step_decay(s: Steps) -> Multiplier:  # pytorch/examples' StepLR(step_size=1, gamma=0.7)
    return lambda step: 0.7 ** (step // max(1, s.per_epoch))


@SCHEDULES.register("constant")
def _constant(s: Steps) -> Multiplier:
    return lambda step: 1.0


def lr_lambda(schedule: str, total_steps: int, steps_per_epoch: int,
              warmup: float) -> Multiplier:
    """Multiplier of the base LR at each optimizer step."""
    return SCHEDULES.get(schedule)(Steps(total_steps, steps_per_epoch, warmup))
