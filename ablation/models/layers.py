"""ACTIVATIONS registry: every activation of study 002 Table 4, plus mish; a fast Dropout."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ablation.registry import Registry

ActivationFactory = Callable[[], nn.Module]
ACTIVATIONS: Registry[ActivationFactory] = Registry("activation")

ACTIVATIONS.add("relu", lambda: nn.ReLU(inplace=True))
ACTIVATIONS.add("leaky-relu", lambda: nn.LeakyReLU(0.01, inplace=True))
ACTIVATIONS.add("elu", lambda: nn.ELU(inplace=True))
ACTIVATIONS.add("selu", lambda: nn.SELU(inplace=True))
ACTIVATIONS.add("sigmoid", nn.Sigmoid)
ACTIVATIONS.add("tanh", nn.Tanh)
# Softmax over channels, as Keras applies it when used as a hidden activation (study 002).
ACTIVATIONS.add("softmax", lambda: nn.Softmax(dim=1))
ACTIVATIONS.add("softsign", nn.Softsign)
ACTIVATIONS.add("swish", nn.SiLU)  # swish with beta = 1 is SiLU
ACTIVATIONS.add("gelu", nn.GELU)
ACTIVATIONS.add("mish", nn.Mish)


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by registered name."""
    return ACTIVATIONS.get(name)()


class Dropout(nn.Dropout):
    """nn.Dropout with a cheaper mask: 16 random bits per element instead of a float draw.

    On the CPU, ``bernoulli_`` draws one float per element and cost ~22% of a resnet-lite training
    step (docs/results-speed.md). Here one 64-bit draw gives four elements a 16-bit uniform value,
    and an element is kept when its value clears ``round(p * 65536)``: the drop probability is
    ``p`` to within 1/131072. Same seed, same mask.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p >= 1:
            return x * 0
        n = x.numel()
        bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device)
        bits.random_(-(2**63), None)  # all 64 bits uniform
        keep = bits.view(torch.int16)[:n].view(x.shape) >= -32768 + round(self.p * 65536)
        return x * keep.to(x.dtype).mul_(1.0 / (1.0 - self.p))


# The layers that hold prunable weights: magnitude pruning and dynamic sparse training read it.
PRUNABLE = (nn.Conv2d, nn.Linear)


def prunable(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """(module, "weight") for every conv and linear layer, in definition order."""
    return [(m, "weight") for m in model.modules() if isinstance(m, PRUNABLE)]


def weight_of(module: nn.Module) -> torch.Tensor:
    """A conv/linear layer's weight tensor (typed, for the checkers)."""
    w = module.weight
    assert isinstance(w, torch.Tensor)
    return w
