"""Resuming only from a checkpoint that fits: anything else is discarded with one warning.

A checkpoint file can be unusable in ways its format check cannot see: it loads, but holds
another model's weights (missing keys, another width), an optimizer state of another shape, or
is cut short. Loading such a file into a run half-way would leave the model part-restored, so
:class:`SafeCheckpoint` remembers the fresh state first, and on any failure puts it back,
deletes the file and warns once: the point then trains from epoch 0, as if no file had been
there, instead of failing for good.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ablation.analysis.records import EpochRecord
from ablation.training.checkpoint import EpochCheckpoint, Stateful


class SafeCheckpoint(EpochCheckpoint):
    """An EpochCheckpoint whose load never fails and never half-restores a run."""

    def load(self, model: nn.Module, opt: torch.optim.Optimizer,
             sched: torch.optim.lr_scheduler.LRScheduler, gen: torch.Generator,
             extras: Mapping[str, Stateful] | None = None,
             ) -> tuple[list[EpochRecord], float] | None:
        """Restore the saved state, or discard the file and leave the fresh state as it was."""
        if not self.path.is_file():
            return None
        fresh = _snapshot(model, opt, sched, gen, extras or {})
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                loaded = super().load(model, opt, sched, gen, extras)
            if caught:  # the format check refused it (truncated, foreign, missing state)
                raise ValueError(str(caught[0].message).split(": ", 1)[-1])
        except Exception as exc:  # noqa: BLE001 - any unusable file: start over, never fail
            _restore(fresh, model, opt, sched, gen, extras or {})
            self.resumed_from = None
            self._discard(exc)
            return None
        return loaded

    def _discard(self, exc: Exception) -> None:
        why = " ".join(str(exc).split())[:200] or type(exc).__name__
        self.path.unlink(missing_ok=True)
        warnings.warn(f"checkpoint {self.path} discarded ({why}); the point trains from "
                      "epoch 0", stacklevel=3)


def _snapshot(model: nn.Module, opt: torch.optim.Optimizer,
              sched: torch.optim.lr_scheduler.LRScheduler, gen: torch.Generator,
              extras: Mapping[str, Stateful]) -> dict[str, Any]:
    return {"model": copy.deepcopy(model.state_dict()), "opt": copy.deepcopy(opt.state_dict()),
            "sched": copy.deepcopy(sched.state_dict()), "gen": gen.get_state(),
            "rng": torch.get_rng_state(),
            "extras": {k: copy.deepcopy(v.state_dict()) for k, v in extras.items()}}


def _restore(state: dict[str, Any], model: nn.Module, opt: torch.optim.Optimizer,
             sched: torch.optim.lr_scheduler.LRScheduler, gen: torch.Generator,
             extras: Mapping[str, Stateful]) -> None:
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    gen.set_state(state["gen"])
    torch.set_rng_state(state["rng"])
    for k, v in extras.items():
        v.load_state_dict(state["extras"][k])
