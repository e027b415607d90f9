"""MODELS registry. Each family lives in its own module and registers itself on import."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ablation.registry import Registry

# (input shape C,H,W; number of classes; activation name; width; blocks; dropout) -> model
ModelBuilder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelInfo:
    """A registered model family and the TrainConfig knobs it reads."""

    name: str
    build: ModelBuilder
    uses: tuple[str, ...]
    note: str = ""


MODELS: Registry[ModelInfo] = Registry("model")


def model(name: str, uses: tuple[str, ...] = (), note: str = "") -> Callable[[ModelBuilder],
                                                                              ModelBuilder]:
    """Register a builder ``f(input_shape, n_classes, activation, width, blocks, dropout)``."""

    def deco(fn: ModelBuilder) -> ModelBuilder:
        MODELS.add(name, ModelInfo(name, fn, uses, note))
        return fn

    return deco


def build_model(name: str, input_shape: tuple[int, int, int], n_classes: int,
                activation: str = "relu", width: int = 32, blocks: int = 3,
                dropout: float = 0.0) -> nn.Module:
    """Instantiate a registered model for images of ``input_shape``."""
    return MODELS.get(name).build(input_shape, n_classes, activation, width=width,
                                  blocks=blocks, dropout=dropout)


# Importing the families registers them (order = listing order).
from ablation.models import cnn, lenet, resnet50, resnet_lite, tiny  # noqa: E402,F401
