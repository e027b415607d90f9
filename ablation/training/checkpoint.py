"""Per-epoch training checkpoints: resume a run where a dead worker left it, bit for bit.

A checkpoint holds everything the next epoch depends on: model, optimizer and scheduler state,
the global torch RNG and the trainer's own ``torch.Generator`` (batch order, augmentation), the
learning curve so far, the training seconds, and the state of any stateful helpers the run uses
(the SWA running average, dynamic sparse training's masks). RNG states are uint8 tensors, so the
whole file loads with ``torch.load(weights_only=True)`` (no pickle of arbitrary objects). Files
are written to a temporary name and moved into place with ``os.replace``, so a crash mid-write
leaves the previous checkpoint, never half a file.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ablation.analysis.records import EpochRecord
from ablation.errors import UserError

# torch is imported where a checkpoint is written or read, so a worker whose trainer never
# checkpoints (benchmarks/bench_claims.py) runs without it.
if TYPE_CHECKING:
    import torch
    from torch import nn

FORMAT = 1


class Stateful(Protocol):
    """Anything with a state dict of plain tensors and numbers (SWA averager, sparsity masks)."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def checkpoint_path(root: Path, study: str, point_key: str) -> Path:
    """Where the checkpoint of one point of one study lives under ``root``."""
    tag = hashlib.sha256(study.encode()).hexdigest()[:12]
    return root / "checkpoints" / tag / f"{point_key}.pt"


def _write(state: dict[str, Any], path: Path) -> None:
    import torch

    with open(path, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())


def _check_generator(state: torch.Tensor, gen: torch.Generator) -> None:
    """Raise unless ``state`` fits ``gen``: a CPU generator's state does not fit a GPU's (a run
    resumed on another kind of device starts over rather than fail)."""
    import torch

    try:
        torch.Generator(device=gen.device).set_state(state)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"its batch-order generator is from another device kind than "
                         f"{gen.device.type} ({' '.join(str(exc).split())[:80]})") from None


def _cuda_rng() -> list[torch.Tensor]:
    """The GPUs' global generator states (dropout draws from them on a GPU); none unused."""
    import torch

    return list(torch.cuda.get_rng_state_all()) if torch.cuda.is_initialized() else []


def _set_cuda_rng(states: list[torch.Tensor]) -> None:
    import torch

    if states and torch.cuda.is_available() and len(states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states)


class EpochCheckpoint:
    """The checkpoint file of one training run; ``fit`` loads it at the start, saves per epoch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.resumed_from: int | None = None  # epoch the last load() resumed from

    def save(self, model: nn.Module, opt: torch.optim.Optimizer,
             sched: torch.optim.lr_scheduler.LRScheduler, gen: torch.Generator,
             curve: list[EpochRecord], train_seconds: float,
             extras: Mapping[str, Stateful] | None = None) -> None:
        """Atomically replace the checkpoint with the state after the last epoch of ``curve``."""
        import torch

        state = {"format": FORMAT, "epoch": len(curve), "model": model.state_dict(),
                 "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                 "torch_rng": torch.get_rng_state(), "generator": gen.get_state(),
                 "cuda_rng": _cuda_rng(),
                 "curve": [dataclasses.asdict(r) for r in curve],
                 "train_seconds": float(train_seconds),
                 "extras": {name: obj.state_dict() for name, obj in (extras or {}).items()}}
        self._store(state)

    def _store(self, state: dict[str, Any]) -> None:
        """Put ``state`` where load() finds it (a subclass may keep it elsewhere: S3, ...)."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _write(state, tmp)
            os.replace(tmp, self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            hint = " (disk full)" if exc.errno == errno.ENOSPC else ""
            raise UserError(f"cannot write checkpoint {self.path}{hint}: "
                            f"{exc.strerror or exc}") from None

    def load(self, model: nn.Module, opt: torch.optim.Optimizer,
             sched: torch.optim.lr_scheduler.LRScheduler, gen: torch.Generator,
             extras: Mapping[str, Stateful] | None = None,
             ) -> tuple[list[EpochRecord], float] | None:
        """Restore the saved state into the given objects; (curve, train seconds) or None.

        An unreadable file (truncated, not a checkpoint, or without the state of one of
        ``extras``) is ignored with a warning: the run starts over from epoch 0 instead of being
        blocked, or silently changed, by a checkpoint it cannot use.
        """
        import torch

        try:
            state = self._read()
            if state is None:
                return None
            if not isinstance(state, dict) or state.get("format") != FORMAT:
                raise ValueError(f"not an ablate checkpoint of format {FORMAT}")
            curve = [EpochRecord(**r) for r in state["curve"]]
            missing = set(extras or {}) - set(state.get("extras", {}))
            if missing:
                raise ValueError(f"no saved state for {', '.join(sorted(missing))}")
            _check_generator(state["generator"], gen)
        except Exception as exc:  # noqa: BLE001 - truncated or foreign file: start over
            warnings.warn(f"ignoring unreadable checkpoint {self.path}: {exc}", stacklevel=2)
            return None
        # The file is keyed by configuration and seed, so these fit; a mismatch is a bug.
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        _set_cuda_rng(state.get("cuda_rng", []))
        gen.set_state(state["generator"])
        for name, obj in (extras or {}).items():
            obj.load_state_dict(state["extras"][name])
        self.resumed_from = len(curve)
        return curve, float(state["train_seconds"])

    def _read(self) -> Any:
        """The stored state, or None when there is none yet."""
        import torch

        if not self.path.is_file():
            return None
        # Onto the CPU whatever device wrote it; load_state_dict copies to the run's device.
        return torch.load(self.path, weights_only=True, map_location="cpu")

    def delete(self) -> None:
        """Remove the checkpoint (the point is finished)."""
        self.path.unlink(missing_ok=True)
