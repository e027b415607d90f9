"""Which device a run trains on, in which precision, and the process settings that go with it.

The decisions are pure functions of what the machine has (``Machine``), so tests exercise the
GPU branches on a CPU-only machine by handing in a machine with GPUs; ``machine()`` asks torch.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ablation.config.devices import AUTO, DEVICES, DeviceKind, check_device
from ablation.errors import UserError
from ablation.training.precision import resolve_precision

if TYPE_CHECKING:
    import torch

# cuBLAS needs a fixed workspace to be deterministic (CUDA docs, "Reproducibility").
CUBLAS_WORKSPACE = ":4096:8"


@dataclass(frozen=True)
class Machine:
    """The accelerators this process can see: a field per DEVICES kind not on every machine."""

    cuda: int = 0  # visible CUDA devices
    mps: bool = False
    cuda_bf16: bool = False  # the first visible GPU computes bf16 (torch.cuda.is_bf16_supported)

    def count(self, kind: str) -> int:
        """How many devices of the DEVICES kind ``kind`` this process sees (the CPU: one)."""
        return 1 if DEVICES.get(kind).everywhere else int(getattr(self, kind))


def machine() -> Machine:
    """What torch sees on this machine."""
    import torch

    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mps = getattr(torch.backends, "mps", None)
    return Machine(cuda=n, mps=bool(mps is not None and mps.is_available()),
                   cuda_bf16=bool(n and torch.cuda.is_bf16_supported()))


def machine_for(requested: str) -> Machine:
    """The machine to resolve ``requested`` on: a device on every machine (the CPU) asks torch
    nothing (asking may start CUDA in this process); anything else asks :func:`machine`."""
    kind = requested.partition(":")[0]
    return Machine() if kind in DEVICES and DEVICES.get(kind).everywhere else machine()


def pick_device(requested: str, have: Machine, where: str = "--device") -> str:
    """The device ``requested`` names on ``have``: "auto" is the first DEVICES kind it has
    (a CUDA GPU, else MPS, else the CPU); a device this machine lacks is a UserError naming
    what it has."""
    check_device(requested, where)
    if requested == AUTO:
        kind = next(DEVICES.get(n) for n in DEVICES if have.count(n))
        return f"{kind.name}:0" if kind.numbered else kind.name
    name, _, number = requested.partition(":")
    kind, index = DEVICES.get(name), int(number or 0)
    if index >= have.count(name):
        raise UserError(_lacking(kind, requested, have.count(name), where))
    return f"{name}:{index}" if kind.numbered else name


def _lacking(kind: DeviceKind, requested: str, seen: int, where: str) -> str:
    hint = "leave --devices out" if where == "--devices" else "use --device cpu or auto"
    if not kind.numbered:
        return f"{where} {requested}: this machine has no {kind.label}; {hint}"
    visible = f"{seen} {kind.label}(s) visible" if seen else f"no {kind.label} visible"
    return f"{where} {requested}: {visible} on this machine; {hint}"


def device_precision(requested: str, device_type: str, have: Machine,
                     flags: frozenset[str] | None = None) -> str:
    """The precision a run of ``requested`` (auto, fp32, bf16) uses on ``device_type``.

    CPU: resolve_precision (bf16 where the CPU's flags say native). CUDA: bf16 autocast where
    the GPU supports it, else fp16 with a gradient scaler; fp32 when asked. MPS: fp32 unless
    bf16 is asked for.
    """
    if device_type == "cpu":
        return resolve_precision(requested, flags)
    if requested == "fp32":
        return "fp32"
    if device_type == "cuda":
        if have.cuda_bf16:
            return "bf16"
        return "fp16"  # an explicit bf16 too: pre-Ampere GPUs have no bf16 units
    return "bf16" if requested == "bf16" else "fp32"


def channels_last(device_type: str) -> bool:
    """Whether conv models train in NHWC on ``device_type`` (its DEVICES entry says, and why)."""
    return DEVICES.get(device_type).channels_last


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so a clock read after it measures the work."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@contextlib.contextmanager
def kernel_settings(device: torch.device, deterministic: bool) -> Iterator[None]:
    """Deterministic kernels (``deterministic``) or cuDNN's autotuner (CUDA otherwise), put
    back as they were afterwards: these are process-wide and a worker runs many trials.

    Deterministic with ``warn_only``: an op with no deterministic GPU kernel (the backward of
    AdaptiveAvgPool2d, which every model here ends with, on CUDA) warns, naming itself,
    instead of stopping the trial.
    """
    import torch

    before = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic,
              os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: the autotuned kernel pays off
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before[2:4]
        if before[4] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
