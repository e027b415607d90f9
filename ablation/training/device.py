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

from ablation.config.devices import check_device
from ablation.errors import UserError
from ablation.training.precision import resolve_precision

if TYPE_CHECKING:
    import torch

# cuBLAS needs a fixed workspace to be deterministic (CUDA docs, "Reproducibility").
CUBLAS_WORKSPACE = ":4096:8"


@dataclass(frozen=True)
class Machine:
    """The accelerators this process can see."""

    cuda: int = 0  # visible CUDA devices
    mps: bool = False
    cuda_bf16: bool = False  # the first visible GPU computes bf16 (torch.cuda.is_bf16_supported)


def machine() -> Machine:
    """What torch sees on this machine."""
    import torch

    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mps = getattr(torch.backends, "mps", None)
    return Machine(cuda=n, mps=bool(mps is not None and mps.is_available()),
                   cuda_bf16=bool(n and torch.cuda.is_bf16_supported()))


def pick_device(requested: str, have: Machine, where: str = "--device") -> str:
    """The device ``requested`` names on ``have``: "auto" is the first CUDA GPU, else MPS, else
    the CPU; a GPU this machine lacks is a UserError naming what it has."""
    check_device(requested, where)
    if requested == "auto":
        return "cuda:0" if have.cuda else "mps" if have.mps else "cpu"
    if requested == "mps" and not have.mps:
        raise UserError(f"{where} mps: this machine has no MPS (Apple GPU) device; use --device "
                        "cpu or auto")
    if requested.startswith("cuda"):
        index = int(requested.partition(":")[2] or 0)
        if index >= have.cuda:
            seen = f"{have.cuda} CUDA GPU(s) visible" if have.cuda else "no CUDA GPU visible"
            hint = "leave --devices out" if where == "--devices" else "use --device cpu or auto"
            raise UserError(f"{where} {requested}: {seen} on this machine; {hint}")
        return f"cuda:{index}"
    return requested


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
    """Whether conv models train in NHWC on ``device_type``.

    CPU: oneDNN's convolutions are 1.3-1.5x faster in NHWC on these CNNs (docs/results-speed.md,
    re-measured in docs/devices.md). CUDA: cuDNN's tensor-core convolutions are NHWC-native.
    MPS: not measured, so not changed.
    """
    return device_type in ("cpu", "cuda")


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
