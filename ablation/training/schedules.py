"""Learning-rate schedules as multipliers of the base LR per optimizer step."""

from __future__ import annotations

import math
from collections.abc import Callable


def lr_lambda(schedule: str, total_steps: int, steps_per_epoch: int,
              warmup: float) -> Callable[[int], float]:
    """Multiplier of the base LR at each optimizer step."""
    warm = max(1, int(total_steps * warmup))

    def onecycle(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, total_steps - warm)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    def cosine(step: int) -> float:
        return 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, total_steps))))

    def step_decay(step: int) -> float:  # pytorch/examples' StepLR(step_size=1, gamma=0.7)
        return 0.7 ** (step // max(1, steps_per_epoch))

    return {"onecycle": onecycle, "cosine": cosine, "step": step_decay,
            "constant": lambda step: 1.0}[schedule]
