"""Stochastic Weight Averaging (study 000): average the weights of the last epochs.

Uses ``torch.optim.swa_utils``: an equal-weight running average (``AveragedModel``) taken at the
end of each of the last ``swa_epochs`` epochs, a constant SWA learning rate over those epochs, and
BatchNorm statistics recomputed for the averaged weights with ``update_bn`` (averaged weights do
not match the running statistics any single epoch collected).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, update_bn


def swa_lr_lambda(base: Callable[[int], float], lr: float, swa_lr: float, swa_epochs: int,
                  epochs: int, steps_per_epoch: int) -> Callable[[int], float]:
    """The base LR multiplier until SWA starts, then the constant ``swa_lr / lr``."""
    start_step = (epochs - swa_epochs) * steps_per_epoch
    if swa_epochs <= 0 or swa_lr <= 0:
        return base

    def multiplier(step: int) -> float:
        return swa_lr / lr if step >= start_step else base(step)

    return multiplier


class Averager:
    """Collects the average of the last ``swa_epochs`` epochs' weights."""

    def __init__(self, model: nn.Module, swa_epochs: int, epochs: int) -> None:
        self.first_epoch = epochs - swa_epochs + 1
        self.averaged = AveragedModel(model)
        self.count = 0

    def after_epoch(self, epoch: int, model: nn.Module) -> None:
        """Add this epoch's weights to the average when SWA has started."""
        if epoch >= self.first_epoch:
            self.averaged.update_parameters(model)
            self.count += 1

    def state_dict(self) -> dict[str, Any]:
        """The running average and its count, for a per-epoch checkpoint."""
        return {"averaged": self.averaged.state_dict(), "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue averaging from a checkpoint."""
        self.averaged.load_state_dict(state["averaged"])
        self.count = int(state["count"])

    def finish(self, batches: Iterable[torch.Tensor]) -> nn.Module:
        """The averaged model with BatchNorm statistics recomputed over ``batches``."""
        update_bn(batches, self.averaged)
        return self.averaged.module
