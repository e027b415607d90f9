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
from typing import TYPE_CHECKING, Any

from ablation.analysis.records import EpochRecord
from ablation.training.checkpoint import EpochCheckpoint, Stateful

if TYPE_CHECKING:  # torch only where a run resumes: the engine's claim path stays light
    import torch
    from torch import nn


class SafeCheckpoint:
    """Wraps a checkpoint (a file, or another kind with the same load/save/delete) so that its
    load never fails and never half-restores a run."""

    def __init__(self, inner: EpochCheckpoint) -> None:
        self.inner = inner

    @property
    def path(self) -> Any:
        """Where the wrapped checkpoint lives (shown in the warning)."""
        return self.inner.path

    @property
    def resumed_from(self) -> int | None:
        """Epoch the last load resumed from (None: a fresh start)."""
        return self.inner.resumed_from

    def save(self, model: nn.Module, opt: torch.optim.Optimizer,
             sched: torch.optim.lr_scheduler.LRScheduler, gen: torch.Generator,
             curve: list[EpochRecord], train_seconds: float,
             extras: Mapping[str, Stateful] | None = None) -> None:
        """As the wrapped checkpoint's save."""
        self.inner.save(model, opt, sched, gen, curve, train_seconds, extras)

    def delete(self) -> None:
        """As the wrapped checkpoint's delete (the point is finished)."""
        self.inner.delete()

    def load(self, model: nn.Module, opt: torch.optim.Optimizer,
             sched: torch.optim.lr_scheduler.LRScheduler, gen: torch.Generator,
             extras: Mapping[str, Stateful] | None = None,
             ) -> tuple[list[EpochRecord], float] | None:
        """Restore the saved state, or discard it and leave the fresh state as it was."""
        if type(self.inner) is EpochCheckpoint and not self.inner.path.is_file():
            return None  # nothing saved: no snapshot needed
        fresh = _snapshot(model, opt, sched, gen, extras or {})
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                loaded = self.inner.load(model, opt, sched, gen, extras)
            if caught:  # the format check refused it (truncated, foreign, missing state)
                raise ValueError(str(caught[0].message).split(": ", 1)[-1])
        except Exception as exc:  # noqa: BLE001 - any unusable checkpoint: start over
            _restore(fresh, model, opt, sched, gen, extras or {})
            self.inner.resumed_from = None
            self._discard(exc)
            return None
        return loaded

    def _discard(self, exc: Exception) -> None:
        why = " ".join(str(exc).split())[:200] or type(exc).__name__
        self.inner.delete()
        warnings.warn(f"checkpoint {self.path} discarded ({why}); the point trains from "
                      "epoch 0", stacklevel=3)


def _snapshot(model: nn.Module, opt: torch.optim.Optimizer,
              sched: torch.optim.lr_scheduler.LRScheduler, gen: torch.Generator,
              extras: Mapping[str, Stateful]) -> dict[str, Any]:
    import torch

    return {"model": copy.deepcopy(model.state_dict()), "opt": copy.deepcopy(opt.state_dict()),
            "sched": copy.deepcopy(sched.state_dict()), "gen": gen.get_state(),
            "rng": torch.get_rng_state(),
            "extras": {k: copy.deepcopy(v.state_dict()) for k, v in extras.items()}}


def _restore(state: dict[str, Any], model: nn.Module, opt: torch.optim.Optimizer,
             sched: torch.optim.lr_scheduler.LRScheduler, gen: torch.Generator,
             extras: Mapping[str, Stateful]) -> None:
    import torch

    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    sched.load_state_dict(state["sched"])
    gen.set_state(state["gen"])
    torch.set_rng_state(state["rng"])
    for k, v in extras.items():
        v.load_state_dict(state["extras"][k])
