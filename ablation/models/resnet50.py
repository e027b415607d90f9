"""torchvision's ResNet-50 adapted to small images (study 002, Table 2 baseline)."""

from __future__ import annotations

from torch import nn

from ablation.models import model
from ablation.models.layers import make_activation


def _swap_activations(module: nn.Module, activation: str) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.ReLU):
            setattr(module, name, make_activation(activation))
        else:
            _swap_activations(child, activation)


@model("resnet50", uses=("activation",),
       note="torchvision resnet50, 3x3 stride-1 stem, no stem max-pool, random init")
def resnet50(input_shape: tuple[int, int, int], n_classes: int, activation: str = "relu",
             **_: object) -> nn.Module:
    """ResNet-50 whose stem keeps small images (28x28, 8x8) from vanishing."""
    from torchvision.models import resnet50 as tv_resnet50

    net = tv_resnet50(weights=None, num_classes=n_classes)
    net.conv1 = nn.Conv2d(input_shape[0], 64, 3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    if activation != "relu":
        _swap_activations(net, activation)
    return net
