"""Plain CNN: conv + max-pool stages and a dense head (study 002's first own model)."""

from __future__ import annotations

from torch import nn

from ablation.models import model
from ablation.models.layers import Dropout, make_activation


@model("cnn", uses=("activation", "width", "dropout"))
def cnn(input_shape: tuple[int, int, int], n_classes: int, activation: str = "relu",
        width: int = 32, dropout: float = 0.0, **_: object) -> nn.Module:
    """Two stages of (conv, conv, max-pool) at width and 2x width, then a 128-unit dense layer."""
    c, h, _w = input_shape
    layers: list[nn.Module] = []
    ch_in, size = c, h
    for ch in (width, 2 * width):
        layers += [nn.Conv2d(ch_in, ch, 3, padding=1), make_activation(activation),
                   nn.Conv2d(ch, ch, 3, padding=1), make_activation(activation)]
        if size >= 2:
            layers.append(nn.MaxPool2d(2))
            size //= 2
        ch_in = ch
    layers += [nn.AdaptiveAvgPool2d(2), nn.Flatten(), Dropout(dropout),
               nn.Linear(ch_in * 4, 128), make_activation(activation), nn.Linear(128, n_classes)]
    return nn.Sequential(*layers)
