"""Devices of a run: checked where the user named them, shared out among local workers, and a
stored model moved to one for inference.

Several GPUs on one machine: each local worker process sees only its GPU
(``CUDA_VISIBLE_DEVICES`` set in that process before CUDA starts) and trains on ``cuda:0``, so
no worker can touch another's memory and ``--per-device K`` packs K workers onto one GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ablation.config.devices import AUTO, DEVICES, check_device, parse_devices
from ablation.errors import UserError
from ablation.spec.study import StudySpec
from ablation.training.device import Machine, machine_for, pick_device

if TYPE_CHECKING:
    from ablation.engine.results.trained import LoadedModel

VISIBLE = "CUDA_VISIBLE_DEVICES"


@dataclass(frozen=True)
class Placement:
    """One local worker's device: the environment its process starts with and its device."""

    env: tuple[tuple[str, str], ...]
    device: str


def checked_device(requested: str, where: str, have: Machine | None = None) -> str:
    """``requested`` if it is spelled right and this machine has it (auto always is)."""
    check_device(requested, where)
    pick_device(requested, have or machine_for(requested), where)
    return requested


def with_device(spec: StudySpec, device: str | None, have: Machine | None = None) -> StudySpec:
    """``spec`` with ``--device`` (when given) in place of its ``study.device``, checked."""
    where = "--device" if device is not None else f"{spec.source}: study.device"
    chosen = checked_device(device if device is not None else spec.device, where, have)
    return replace(spec, device=chosen)


def plan_devices(devices: str, per_device: int, have: Machine,
                 visible: str | None = None) -> list[Placement]:
    """The workers ``--devices`` and ``--per-device`` ask for: ``per_device`` per GPU, spread
    over the GPUs in turn. ``visible`` is this process's own CUDA_VISIBLE_DEVICES: GPU numbers
    count within it, as torch counts them."""
    if per_device < 1:
        raise UserError(f"--per-device must be >= 1, got {per_device}")
    listed = parse_devices(devices)
    if listed == (AUTO,):
        if not have.cuda:
            raise UserError("--devices auto: no CUDA GPU visible on this machine; leave "
                            "--devices out to run the workers on the CPU")
        listed = tuple(f"cuda:{i}" for i in range(have.cuda))
    ids = [v.strip() for v in visible.split(",")] if visible else None
    gpus = []
    for device in listed:
        index = int(pick_device(device, have, "--devices").partition(":")[2])
        gpus.append(ids[index] if ids is not None and index < len(ids) else str(index))
    return [Placement(((VISIBLE, gpu),), "cuda:0") for _ in range(per_device) for gpu in gpus]


def worker_count(placements: list[Placement], workers: int | None) -> int:
    """How many local workers run: one per placement; a different ``--workers`` (``workers``,
    None when not given) is a mistake."""
    if workers is not None and workers != len(placements):
        raise UserError(f"--workers {workers} does not match --devices x --per-device "
                        f"({len(placements)} workers); leave --workers out")
    return len(placements)


def loaded_on(loaded: LoadedModel, device: str) -> LoadedModel:
    """``loaded`` predicting on ``device`` (a GPU this machine lacks is a UserError): the model
    runs there; inputs go to it and predictions come back to the CPU batch by batch."""
    import torch
    from torch import nn

    target = torch.device(pick_device(device, machine_for(device)))
    if DEVICES.get(target.type).everywhere:  # the CPU, where the model already is
        return loaded

    class OnDevice(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner.to(target)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.inner(x.to(target)).float().cpu()

    return replace(loaded, model=OnDevice(loaded.model).eval())
