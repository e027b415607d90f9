"""LeNet-5 (study 002, Table 2 baseline), sized to whatever image it is given."""

from __future__ import annotations

import torch
from torch import nn

from ablation.models import model
from ablation.models.layers import make_activation


@model("lenet5", uses=("activation",),
       note="LeCun et al. 1998; 2nd conv padded on images under 20 px")
def lenet5(input_shape: tuple[int, int, int], n_classes: int, activation: str = "relu",
           **_: object) -> nn.Module:
    """Two 5x5 conv + max-pool stages, then 120-84-n fully connected layers."""
    c, h, w = input_shape
    # The classic second conv is unpadded (14 -> 10); on tiny images (8x8 digits) that would
    # leave nothing, so it keeps the size there instead.
    pad2 = 0 if min(h, w) >= 20 else 2
    features = nn.Sequential(
        nn.Conv2d(c, 6, 5, padding=2), make_activation(activation), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, padding=pad2), make_activation(activation), nn.MaxPool2d(2),
        nn.Flatten())
    with torch.no_grad():
        flat = features(torch.zeros(1, c, h, w)).shape[1]
    return nn.Sequential(features, nn.Linear(flat, 120), make_activation(activation),
                         nn.Linear(120, 84), make_activation(activation), nn.Linear(84, n_classes))
