"""OPTIMIZERS registry with metadata: which TrainConfig knobs each optimizer reads."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from ablation.registry import Registry

Params = Iterable[nn.Parameter] | Iterable[dict]


@dataclass(frozen=True)
class OptimizerSpec:
    """How to build one optimizer and the TrainConfig knobs it reads beyond lr and weight decay
    (spec refuses a study that varies or sets a knob its optimizers ignore)."""

    name: str
    build: Callable[..., torch.optim.Optimizer]
    uses: tuple[str, ...] = ()
    note: str = ""


OPTIMIZERS: Registry[OptimizerSpec] = Registry("optimizer")


def _add(spec: OptimizerSpec) -> None:
    OPTIMIZERS.add(spec.name, spec)


_add(OptimizerSpec("sgd", lambda p, lr, wd, m: torch.optim.SGD(p, lr=lr, weight_decay=wd,
                                                                momentum=m), uses=("momentum",)))
_add(OptimizerSpec("sgd-nesterov", lambda p, lr, wd, m: torch.optim.SGD(
    p, lr=lr, weight_decay=wd, momentum=m or 0.9, nesterov=True), uses=("momentum",),
    note="Nesterov needs momentum > 0; 0.9 is used when none is given"))
_add(OptimizerSpec("adagrad", lambda p, lr, wd, m: torch.optim.Adagrad(p, lr=lr, weight_decay=wd)))
_add(OptimizerSpec("rmsprop", lambda p, lr, wd, m: torch.optim.RMSprop(
    p, lr=lr, weight_decay=wd, momentum=m), uses=("momentum",)))
# The Adam family runs on torch's default betas (0.9, 0.999): no study key sets them.
_add(OptimizerSpec("adam", lambda p, lr, wd, m: torch.optim.Adam(p, lr=lr, weight_decay=wd)))
_add(OptimizerSpec("adamw", lambda p, lr, wd, m: torch.optim.AdamW(p, lr=lr, weight_decay=wd),
                   note="weight decay decoupled from the gradient step"))
_add(OptimizerSpec("adamax", lambda p, lr, wd, m: torch.optim.Adamax(p, lr=lr, weight_decay=wd)))
_add(OptimizerSpec("nadam", lambda p, lr, wd, m: torch.optim.NAdam(p, lr=lr, weight_decay=wd)))


def make_optimizer(name: str, params: Params, lr: float, weight_decay: float = 0.0,
                   momentum: float = 0.0) -> torch.optim.Optimizer:
    """Build the registered optimizer ``name`` over ``params``."""
    spec = OPTIMIZERS.get(name)
    return spec.build(params, lr, weight_decay, momentum if "momentum" in spec.uses else 0.0)
