"""Batches from whole uint8 tensors: shuffled indices, normalisation and batch augmentation.

Device-aware: the random draws come from the generator's device and the tensors stay on the
data's, so on a GPU the whole data set sits there once and no step goes back to the host.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Batcher:
    """Turns uint8 batches into normalised float tensors (and augments them when asked)."""

    mean: torch.Tensor
    std: torch.Tensor
    augment: bool

    @classmethod
    def for_data(cls, x: torch.Tensor, augment: bool) -> Batcher:
        xf = x.float().div_(255)
        mean = xf.mean(dim=(0, 2, 3)).view(1, -1, 1, 1)
        std = xf.std(dim=(0, 2, 3)).clamp(min=1e-3).view(1, -1, 1, 1)
        return cls(mean, std, augment)

    def to(self, device: torch.device | str) -> Batcher:
        """The same normalisation with its statistics on ``device``."""
        return Batcher(self.mean.to(device), self.std.to(device), self.augment)

    def __call__(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        xf = (x.float().div_(255) - self.mean) / self.std
        if self.augment and gen is not None:
            xf = random_affine(xf, gen)
        return xf


def random_affine(x: torch.Tensor, gen: torch.Generator, degrees: float = 10.0,
                  shift: float = 0.1, zoom: float = 0.1) -> torch.Tensor:
    """Rotate, shift and zoom every image of a batch independently (study 000's augmentation)."""
    n = x.shape[0]
    u = torch.rand(n, 4, generator=gen, device=x.device) * 2 - 1  # uniform in [-1, 1]
    angle = u[:, 0] * math.radians(degrees)
    scale = 1 + u[:, 1] * zoom
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, u[:, 2] * shift * 2], 1),
                         torch.stack([sin, cos, u[:, 3] * shift * 2], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # Background is the normalised value of a 0 pixel, not 0, so pad with the batch minimum.
    fill = x.amin()
    return F.grid_sample(x - fill, grid, align_corners=False, padding_mode="zeros") + fill


def batch_indices(n: int, batch_size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Shuffled index batches, drawn on (and living on) the generator's device."""
    order = torch.randperm(n, generator=gen, device=gen.device)
    for i in range(0, n, batch_size):
        idx = order[i:i + batch_size]
        if len(idx) > 1 or i == 0:  # a lone last sample would break batch-norm statistics
            yield idx
