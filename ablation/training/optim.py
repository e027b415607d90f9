"""OPTIMIZERS registry with metadata: which hyperparameters each optimizer takes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from ablation.registry import Registry

Params = Iterable[nn.Parameter] | Iterable[dict]


@dataclass(frozen=True)
class OptimizerSpec:
    """How to build one optimizer and which knobs it understands."""

    name: str
    build: Callable[..., torch.optim.Optimizer]
    takes_momentum: bool = False
    takes_betas: bool = False
    decoupled_weight_decay: bool = False
    note: str = ""


OPTIMIZERS: Registry[OptimizerSpec] = Registry("optimizer")


def _add(spec: OptimizerSpec) -> None:
    OPTIMIZERS.add(spec.name, spec)


_add(OptimizerSpec("sgd", lambda p, lr, wd, m: torch.optim.SGD(p, lr=lr, weight_decay=wd,
                                                                momentum=m), takes_momentum=True))
_add(OptimizerSpec("sgd-nesterov", lambda p, lr, wd, m: torch.optim.SGD(
    p, lr=lr, weight_decay=wd, momentum=m or 0.9, nesterov=True), takes_momentum=True,
    note="Nesterov needs momentum > 0; 0.9 is used when none is given"))
_add(OptimizerSpec("adagrad", lambda p, lr, wd, m: torch.optim.Adagrad(p, lr=lr, weight_decay=wd)))
_add(OptimizerSpec("rmsprop", lambda p, lr, wd, m: torch.optim.RMSprop(
    p, lr=lr, weight_decay=wd, momentum=m), takes_momentum=True))
_add(OptimizerSpec("adam", lambda p, lr, wd, m: torch.optim.Adam(p, lr=lr, weight_decay=wd),
                   takes_betas=True))
_add(OptimizerSpec("adamw", lambda p, lr, wd, m: torch.optim.AdamW(p, lr=lr, weight_decay=wd),
                   takes_betas=True, decoupled_weight_decay=True))
_add(OptimizerSpec("adamax", lambda p, lr, wd, m: torch.optim.Adamax(p, lr=lr, weight_decay=wd),
                   takes_betas=True))
_add(OptimizerSpec("nadam", lambda p, lr, wd, m: torch.optim.NAdam(p, lr=lr, weight_decay=wd),
                   takes_betas=True))


def make_optimizer(name: str, params: Params, lr: float, weight_decay: float = 0.0,
                   momentum: float = 0.0) -> torch.optim.Optimizer:
    """Build the registered optimizer ``name`` over ``params``."""
    spec = OPTIMIZERS.get(name)
    return spec.build(params, lr, weight_decay, momentum if spec.takes_momentum else 0.0)
