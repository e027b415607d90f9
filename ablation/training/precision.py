"""Which precision a run trains in, and the autocast context for it.

``precision = "auto"`` (the default) means bf16 only where the CPU computes bf16 natively, fp32
everywhere else. Native means the CPU's flags say so (``avx512_bf16`` or ``amx_bf16``):
``torch.ops.mkldnn._is_mkldnn_bf16_supported()`` also answers True on AVX-512 CPUs without
AVX512-BF16, where oneDNN emulates bf16 at about half the speed of fp32 (measured on an Intel Xeon:
7.8 s per MNIST epoch in bf16 against 4.3 s in fp32, benchmarks/step_speed.py). An explicit
``"bf16"`` is honoured even where it is emulated; the run record says which precision ran.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch only where autocast runs: the engine's claim path stays torch-free
    import torch

NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU feature flags of the first processor in ``cpuinfo`` (empty where unreadable)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):  # x86 and ARM spell it differently
            return frozenset(value.split())
    return frozenset()


@functools.cache
def _host_flags() -> frozenset[str]:
    return cpu_flags()


def bf16_native(flags: Iterable[str] | None = None) -> bool:
    """Whether the CPU with ``flags`` (default: this one) computes bf16 in hardware."""
    return bool(NATIVE_BF16_FLAGS & set(_host_flags() if flags is None else flags))


def resolve_precision(requested: str, flags: Iterable[str] | None = None) -> str:
    """The precision a run of ``requested`` ("auto", "fp32" or "bf16") actually uses on a CPU.

    ``flags`` stands in for this CPU's flags (tests inject a CPU without bf16).
    """
    if requested == "auto":
        return "bf16" if bf16_native(flags) else "fp32"
    if requested not in ("fp32", "bf16"):
        raise ValueError(f"unknown precision {requested!r}")
    return requested


def autocast(precision: str, device_type: str = "cpu") -> torch.autocast:
    """The autocast context for an effective ``precision`` ("fp32", "bf16" or "fp16", the last
    on GPUs without bf16) on ``device_type`` ("cpu", "cuda", "mps")."""
    import torch

    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device_type, dtype=dtype, enabled=precision in ("bf16", "fp16"))
