"""resnet-lite: study 002's residual CNN (its best model, 88.43% on EMNIST byClass).

A stem conv gives ``width`` maps (32 maps of 14x14 on 28x28 input, as in the study), then
``blocks`` residual blocks of two conv + batch-norm + activation with dropout; after each block a
1x1 conv doubles the maps and an average-pool quarters the area; global pooling and a linear head.
"""

from __future__ import annotations

import torch
from torch import nn

from ablation.models import model
from ablation.models.layers import Dropout, make_activation


class ResidualBlock(nn.Module):
    """H(x) + x with H = conv-bn-act-conv-bn; activation and dropout after the sum."""

    def __init__(self, ch: int, activation: str, dropout: float) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(ch, ch, 3, padding=1, bias=False), nn.BatchNorm2d(ch),
            make_activation(activation),
            nn.Conv2d(ch, ch, 3, padding=1, bias=False), nn.BatchNorm2d(ch))
        self.act = make_activation(activation)
        self.drop = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.act(self.body(x) + x))


@model("resnet-lite", uses=("activation", "width", "blocks", "dropout"))
def resnet_lite(input_shape: tuple[int, int, int], n_classes: int, activation: str = "relu",
                width: int = 32, blocks: int = 3, dropout: float = 0.1,
                **_: object) -> nn.Module:
    """Stem, ``blocks`` residual blocks each followed by a widening transition, linear head."""
    c, h, _w = input_shape
    stride = 2 if h >= 16 else 1  # 28x28 -> 14x14 as in study 002; tiny 8x8 digits keep size
    layers: list[nn.Module] = [nn.Conv2d(c, width, 3, stride=stride, padding=1, bias=False),
                               nn.BatchNorm2d(width), make_activation(activation)]
    ch, size = width, (h + 2 - 3) // stride + 1
    for _block in range(blocks):
        layers.append(ResidualBlock(ch, activation, dropout))
        layers += [nn.Conv2d(ch, 2 * ch, 1, bias=False), nn.BatchNorm2d(2 * ch),
                   make_activation(activation)]
        if size >= 2:  # stop pooling at 1x1 so deep variants still fit small images
            layers.append(nn.AvgPool2d(2))
            size //= 2
        ch *= 2
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(ch, n_classes)]
    return nn.Sequential(*layers)
