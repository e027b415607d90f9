"""The run record's environment: package versions, git commit, host, threads."""

from __future__ import annotations

import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from ablation.training.precision import bf16_native

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
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment(threads: int) -> dict[str, Any]:
    """Everything a result depends on besides configuration and seed."""
    return {"python": platform.python_version(), "host": socket.gethostname(),
            "platform": platform.platform(), "threads": threads, "git_sha": git_sha(),
            "cpu": cpu_model(), "bf16_native": bf16_native(),
            "packages": {p: _version(p) for p in PACKAGES}}
