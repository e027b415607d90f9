"""Device names as a user writes them (``--device``, ``--devices``, ``study.device``), and the
DEVICES registry of the kinds of device trials train on: spelling checks only. Whether such a
device exists on this machine is asked of torch later (training/device.py), so a study file
validates on any machine.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ablation.config.limits import shown
from ablation.errors import UserError
from ablation.registry import Registry

AUTO = "auto"  # the first registered kind this machine has
_NUMBER = "(0|[1-9][0-9]{0,3})"  # a device number as torch counts them: no sign, no leading 0


@dataclass(frozen=True)
class DeviceKind:
    """A kind of device trials train on, and what the code reads of it."""

    name: str
    label: str  # in messages: "no CUDA GPU visible", "this machine has no MPS (Apple GPU) device"
    numbered: bool = False  # several per machine, named kind:N ("cuda" is kind:0); --devices
    everywhere: bool = False  # on every machine (the CPU): resolving it asks torch nothing
    # Conv models train in NHWC: oneDNN's CPU convolutions are 1.3-1.5x faster so on these CNNs
    # (docs/results-speed.md, re-measured in docs/devices.md); cuDNN's tensor-core convolutions
    # are NHWC-native. MPS: not measured, so not changed.
    channels_last: bool = False
    float64: bool = True  # has float64 tensors (MPS has none)


DEVICES: Registry[DeviceKind] = Registry("device")
# Registration order is auto's preference: the first CUDA GPU, else Apple's MPS, else the CPU.
for _kind in (DeviceKind("cuda", "CUDA GPU", numbered=True, channels_last=True),
              DeviceKind("mps", "MPS (Apple GPU) device", float64=False),
              DeviceKind("cpu", "CPU", everywhere=True, channels_last=True)):
    DEVICES.add(_kind.name, _kind)


def spellings() -> list[str]:
    """Every way to name a device, as messages list them: auto, then each kind (and kind:N)."""
    out = [AUTO]
    for name in sorted(DEVICES):
        out += [name, f"{name}:N"] if DEVICES.get(name).numbered else [name]
    return out


def auto_rule() -> str:
    """What auto picks, in words: "the first CUDA GPU, else the ..., else the CPU"."""
    kinds = [DEVICES.get(n) for n in DEVICES]
    return ", else ".join(f"the first {k.label}" if k.numbered else f"the {k.label}"
                          for k in kinds)


def _numbered() -> list[str]:
    return [n for n in DEVICES if DEVICES.get(n).numbered]


def check_device(value: Any, where: str) -> str:
    """``value`` if it spells a device (auto, a kind, or kind:N for a numbered kind), else a
    UserError listing the spellings."""
    names = [AUTO, *(re.escape(n) + (f"(:{_NUMBER})?" if n in _numbered() else "")
                     for n in DEVICES)]
    if not isinstance(value, str) or not re.fullmatch("|".join(names), value):
        example = f" (N a GPU number, e.g. {_numbered()[0]}:1)" if _numbered() else ""
        raise UserError(f"{where}: device must be one of {', '.join(spellings())}{example}, "
                        f"got {shown(value)}")
    return value


def parse_devices(value: str, where: str = "--devices") -> tuple[str, ...]:
    """``--devices``: "auto" (every visible GPU, resolved later) or distinct numbered devices,
    e.g. "cuda:0,cuda:1". Returns ("auto",) or the listed devices in order."""
    if value.strip() == AUTO:
        return (AUTO,)
    listed = tuple(part.strip() for part in value.split(","))
    numbered = "|".join(f"{re.escape(n)}:{_NUMBER}" for n in _numbered())
    for part in listed:
        if not numbered or not re.fullmatch(numbered, part):
            like = " or ".join(f"{n}:0,{n}:1" for n in _numbered())
            raise UserError(f"{where}: expected 'auto' or GPUs like {like}, got {shown(part)}")
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
