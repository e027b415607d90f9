"""tiny-cnn: a few thousand parameters, for compression studies on 28x28 digits.

Published MNIST models of under 8,000 parameters reach ~99.5% (issue 4); this one follows their
usual shape: 3x3 conv-BN-activation pairs, two max-pools, a 1x1 classifier conv and global
average pooling instead of a dense head (a dense head would hold most of the parameters).
"""

from __future__ import annotations

from torch import nn

from ablation.layers import make_activation
from ablation.models import model


def _conv(ch_in: int, ch_out: int, activation: str, padding: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(ch_in, ch_out, 3, padding=padding, bias=False), nn.BatchNorm2d(ch_out),
            make_activation(activation)]


@model("tiny-cnn", uses=("width", "dropout"), note="~8k parameters at width 8")
def tiny_cnn(input_shape: tuple[int, int, int], n_classes: int, activation: str = "relu",
             width: int = 8, dropout: float = 0.0, **_: object) -> nn.Module:
    """(w, w) conv, pool, (2w, 2w) conv, pool, 3w conv, 1x1 conv to classes, global average."""
    c, h, _w = input_shape
    w = width
    layers = _conv(c, w, activation) + _conv(w, w, activation)
    if h >= 4:
        layers.append(nn.MaxPool2d(2))
    layers += _conv(w, 2 * w, activation) + _conv(2 * w, 2 * w, activation)
    if h >= 8:
        layers.append(nn.MaxPool2d(2))
    layers += _conv(2 * w, 3 * w, activation) + [nn.Dropout(dropout),
                                                   nn.Conv2d(3 * w, n_classes, 1),
                                                   nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)
