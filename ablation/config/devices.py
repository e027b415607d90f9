"""Device names as a user writes them (``--device``, ``--devices``, ``study.device``): spelling
checks only. Whether such a device exists on this machine is asked of torch later
(training/device.py), so a study file validates on any machine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ablation.config.limits import shown
from ablation.errors import UserError

DEVICE_NAMES = ("auto", "cpu", "cuda", "cuda:N", "mps")
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:(0|[1-9][0-9]{0,3}))?")
_CUDA_INDEX = re.compile(r"cuda:(0|[1-9][0-9]{0,3})")


def check_device(value: Any, where: str) -> str:
    """``value`` if it spells a device (auto, cpu, cuda, cuda:N, mps), else a UserError."""
    if not isinstance(value, str) or not _DEVICE.fullmatch(value):
        raise UserError(f"{where}: device must be one of {', '.join(DEVICE_NAMES)} "
                        f"(N a GPU number, e.g. cuda:1), got {shown(value)}")
    return value


def parse_devices(value: str, where: str = "--devices") -> tuple[str, ...]:
    """``--devices``: "auto" (every visible GPU, resolved later) or distinct ``cuda:N``, e.g.
    "cuda:0,cuda:1". Returns ("auto",) or the listed devices in order."""
    if value.strip() == "auto":
        return ("auto",)
    listed = tuple(part.strip() for part in value.split(","))
    for part in listed:
        if not _CUDA_INDEX.fullmatch(part):
            raise UserError(f"{where}: expected 'auto' or GPUs like cuda:0,cuda:1, got "
                            f"{shown(part)}")
    if len(set(listed)) != len(listed):
        raise UserError(f"{where}: {value!r} names a GPU twice; use --per-device K to run K "
                        "workers on one GPU")
    return listed


def parse_placement(study: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``study.device`` (default "auto") and ``study.deterministic`` (default false).

    Neither is part of the study's configuration: the same study resumes on another machine
    or device, and the run record says where each trial ran.
    """
    device = check_device(study.get("device", "auto"), f"{where}: study.device")
    deterministic = study.get("deterministic", False)
    if not isinstance(deterministic, bool):
        raise UserError(f"{where}: study.deterministic must be true or false, got "
                        f"{shown(deterministic)}")
    return {"device": device, "deterministic": deterministic}
