"""tiny-cnn: ~18k parameters, for compression studies on 28x28 digits (int8: ~20 KB on disk).

Published MNIST models of under 8,000 parameters reach ~99.5% (issue 4) with long training;
this one follows their usual shape: 3x3 conv-BN-activation pairs, two max-pools, a 1x1
classifier conv and global average pooling instead of a dense head (which would hold most of the
parameters).
"""

from __future__ import annotations

from torch import nn

from ablation.models import model
from ablation.models.layers import Dropout, make_activation


def _conv(ch_in: int, ch_out: int, activation: str, padding: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(ch_in, ch_out, 3, padding=padding, bias=False), nn.BatchNorm2d(ch_out),
            make_activation(activation)]


@model("tiny-cnn", uses=("activation", "width", "dropout"), note="~18k parameters at width 8")
def tiny_cnn(input_shape: tuple[int, int, int], n_classes: int, activation: str = "relu",
             width: int = 8, dropout: float = 0.0, **_: object) -> nn.Module:
    """(w, w) conv, pool, (2w, 2w) conv, pool, (4w, 4w) conv, 1x1 conv to classes, average."""
    c, h, _w = input_shape
    w = width
    layers = _conv(c, w, activation) + _conv(w, w, activation)
    if h >= 4:
        layers.append(nn.MaxPool2d(2))
    layers += _conv(w, 2 * w, activation) + _conv(2 * w, 2 * w, activation)
    if h >= 8:
        layers.append(nn.MaxPool2d(2))
    # Most parameters sit at the smallest resolution, where each costs 16x fewer operations
    # than at full size: capacity for a fraction of the compute.
    layers += _conv(2 * w, 4 * w, activation) + _conv(4 * w, 4 * w, activation)
    layers += [Dropout(dropout), nn.Conv2d(4 * w, n_classes, 1), nn.AdaptiveAvgPool2d(1),
               nn.Flatten()]
    return nn.Sequential(*layers)
