"""Dynamic sparse training (study 001): conv/linear layers that stay sparse while they learn.

We implement SET (Mocanu et al. 2018): every ``interval`` optimizer steps each layer drops the
``drop`` share of its active weights with the smallest magnitude and regrows as many at random
inactive positions (new weights start at zero). SET rather than RigL because RigL regrows where the
*dense* gradient is largest, which needs a dense backward pass at every update; SET needs nothing
beyond the weights, so it costs the same as dense training on CPU. Study 001's DSR also moves
parameters *between* layers; we keep the per-layer sparsity fixed (uniform), which keeps every
layer's sparsity exactly at the target after every update, the property the tests check.
The drop share decays as a cosine to zero at the end of training, as in RigL.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ablation.config.trainconfig import TrainConfig
from ablation.models.layers import prunable, weight_of


class DynamicSparsity:
    """Masks for every conv/linear weight; call :meth:`after_step` after each optimizer step."""

    def __init__(self, model: nn.Module, sparsity: float, interval: int, drop: float,
                 total_steps: int, gen: torch.Generator) -> None:
        if not 0.0 <= sparsity < 1.0:
            raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
        self.sparsity, self.interval, self.drop = sparsity, interval, drop
        self.total_steps, self.gen, self.step = max(1, total_steps), gen, 0
        self.updates = 0
        self.layers = [m for m, _ in prunable(model)]
        self.masks = [self._random_mask(weight_of(m)) for m in self.layers]
        self.apply()

    def _n_zero(self, w: torch.Tensor) -> int:
        return min(w.numel() - 1, round(self.sparsity * w.numel()))  # keep >= 1 weight alive

    def _random_mask(self, w: torch.Tensor) -> torch.Tensor:
        mask = torch.ones(w.numel(), dtype=torch.bool, device=w.device)
        order = torch.randperm(w.numel(), generator=self.gen, device=self.gen.device)
        mask[order[:self._n_zero(w)]] = False
        return mask.view_as(w)

    @torch.no_grad()
    def apply(self) -> None:
        """Zero the inactive weights (after every step: the optimizer may have moved them)."""
        for layer, mask in zip(self.layers, self.masks, strict=True):
            weight_of(layer).mul_(mask)

    def drop_share(self) -> float:
        """Share of active weights replaced at the current step (cosine decay to 0)."""
        return self.drop / 2 * (1 + math.cos(math.pi * min(1.0, self.step / self.total_steps)))

    def after_step(self) -> None:
        """Re-apply the masks; every ``interval`` steps drop and regrow."""
        self.step += 1
        if self.step % self.interval == 0 and self.step < self.total_steps:
            share = self.drop_share()
            for i, layer in enumerate(self.layers):
                self.masks[i] = self._drop_and_grow(weight_of(layer), self.masks[i], share)
            self.updates += 1
        self.apply()

    @torch.no_grad()
    def _drop_and_grow(self, w: torch.Tensor, mask: torch.Tensor, share: float) -> torch.Tensor:
        flat, m = w.reshape(-1), mask.reshape(-1).clone()
        active = m.nonzero().squeeze(1)
        inactive = (~m).nonzero().squeeze(1)
        k = min(int(share * len(active)), len(inactive))
        if k == 0:
            return mask
        dropped = active[flat[active].abs().argsort()[:k]]
        # Regrow among positions inactive *before* the drop, so a weight is never dropped and
        # regrown in the same update (SET's rule).
        grown = inactive[torch.randperm(len(inactive), generator=self.gen,
                                        device=self.gen.device)[:k]]
        m[dropped] = False
        m[grown] = True
        flat[grown] = 0.0
        return m.view_as(mask)

    def state_dict(self) -> dict[str, Any]:
        """Masks and step counters, for a per-epoch checkpoint (plain tensors and ints)."""
        return {"masks": [m.clone() for m in self.masks], "step": self.step,
                "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint's masks and counters."""
        if len(state["masks"]) != len(self.masks):
            raise ValueError("checkpoint masks do not match the model's sparse layers")
        # A checkpoint loads onto the CPU (map_location); the masks go where the weights are.
        self.masks = [m.to(device=weight_of(lay).device, dtype=torch.bool)
                      for m, lay in zip(state["masks"], self.layers, strict=True)]
        self.step, self.updates = int(state["step"]), int(state["updates"])
        self.apply()

    def layer_sparsities(self) -> list[float]:
        """Share of zero weights in each sparse layer, measured on the weights themselves."""
        return [1.0 - int(torch.count_nonzero(weight_of(lay))) / weight_of(lay).numel()
                for lay in self.layers]

    def mask_sparsities(self) -> list[float]:
        """Share of inactive positions in each layer's mask (exactly the target by design)."""
        return [1.0 - float(m.sum()) / m.numel() for m in self.masks]


def make_step_hook(config: TrainConfig, model: nn.Module, total_steps: int,
                   gen: torch.Generator) -> DynamicSparsity | None:
    """The dynamic-sparsity hook a TrainConfig asks for, or None for dense training."""
    if config.dst_sparsity <= 0:
        return None
    return DynamicSparsity(model, config.dst_sparsity, config.dst_interval, config.dst_drop,
                           total_steps, gen)
