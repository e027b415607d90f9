"""ACTIVATIONS registry: every activation of study 002 Table 4, plus mish."""

from __future__ import annotations

from collections.abc import Callable

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
