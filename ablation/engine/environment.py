"""The run record's environment: package versions, git commit, host, threads."""

from __future__ import annotations

import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

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


def _bf16() -> bool:
    from ablation.training.precision import bf16_supported

    return bf16_supported()


def environment(threads: int) -> dict[str, Any]:
    """Everything a result depends on besides configuration and seed."""
    return {"python": platform.python_version(), "host": socket.gethostname(),
            "platform": platform.platform(), "threads": threads, "git_sha": git_sha(),
            "bf16_native": _bf16(),
            "packages": {p: _version(p) for p in PACKAGES}}
