"""The run record's environment: package versions, git commit, host, threads, and the device
trials train on (its name, memory, driver and CUDA versions; the CPU's model and bf16 flags)."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from ablation.training.device import Machine, device_precision, machine_for, pick_device
from ablation.training.precision import NATIVE_BF16_FLAGS, bf16_native, cpu_flags
from ablation.training.precision import cpu_model as cpuinfo_model

PACKAGES = ("torch", "torchvision", "optuna", "sqlalchemy", "numpy", "ablate")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def git_sha(path: Path | None = None) -> str | None:
    """The commit of the ablate checkout (None outside a git checkout)."""
    where = path or Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (platform.processor() where /proc/cpuinfo has none)."""
    name = cpuinfo_model(cpuinfo)
    return name if name != "unknown" else platform.processor() or "unknown"


def environment(threads: int, device: str = "cpu", deterministic: bool = False
                ) -> dict[str, Any]:
    """Everything a result depends on besides configuration and seed; ``device`` as asked for
    (auto, cpu, cuda:N, ...), recorded as resolved on this machine."""
    return {"python": platform.python_version(), "host": socket.gethostname(),
            "platform": platform.platform(), "threads": threads, "git_sha": git_sha(),
            "cpu": cpu_model(), "bf16_native": bf16_native(),
            "cpu_flags": sorted(NATIVE_BF16_FLAGS & cpu_flags()),
            "packages": {p: _version(p) for p in PACKAGES}, "deterministic": deterministic,
            **device_record(device)}


def device_record(requested: str, have: Machine | None = None) -> dict[str, Any]:
    """The device ``requested`` resolves to here, and what it is: for a GPU its name, memory,
    compute capability, bf16 support, CUDA and driver versions."""
    have = have or machine_for(requested)
    device = pick_device(requested, have)
    out: dict[str, Any] = {"device": device, "device_requested": requested,
                           "cuda_bf16": have.cuda_bf16}
    if device.startswith("cuda"):
        out.update(_cuda_details(int(device.partition(":")[2] or 0)))
        out["cuda_visible_devices"] = os.environ.get("CUDA_VISIBLE_DEVICES")
    elif device == "cpu":
        out["device_name"] = cpu_model()
    else:
        out["device_name"] = "Apple MPS"
    return out


def _cuda_details(index: int) -> dict[str, Any]:
    import torch

    props = torch.cuda.get_device_properties(index)
    return {"device_name": props.name, "device_memory_bytes": int(props.total_memory),
            "compute_capability": f"{props.major}.{props.minor}",
            "cuda_version": torch.version.cuda, "cudnn_version": torch.backends.cudnn.version(),
            "driver_version": _nvidia_driver()}


def _nvidia_driver() -> str | None:
    """The NVIDIA driver version (nvidia-smi), None where it cannot be asked."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.splitlines()[0].strip() if out.returncode == 0 and out.stdout else None


def planned_precision(requested: str, env: dict[str, Any]) -> str:
    """The precision a run of ``requested`` uses on the device of the run record ``env``."""
    device_type = str(env.get("device", "cpu")).partition(":")[0]
    return device_precision(requested, device_type, Machine(cuda_bf16=bool(env.get("cuda_bf16"))))
