"""Which precision a run trains in, and the autocast context for it.

``precision = "auto"`` (the default) means whichever of bf16 and fp32 trains faster on this CPU.
Where the flags say native bf16 (``avx512_bf16`` or ``amx_bf16``) it is bf16, without measuring.
Where oneDNN cannot run bf16 at all it is fp32. In between the flags are not enough:
``torch.ops.mkldnn._is_mkldnn_bf16_supported()`` also answers True on AVX-512 CPUs without
AVX512-BF16, where oneDNN emulates bf16 at about half the speed of fp32 (measured on an Intel Xeon:
7.8 s per MNIST epoch in bf16 against 4.3 s in fp32, benchmarks/step_speed.py), and a CPU whose
flags cannot be read says nothing; there a short timing decides, once per machine
(``training/bf16probe.py``; ``ABLATE_PRECISION_PROBE`` overrides it). An explicit ``"bf16"`` is
honoured even where it is emulated; the run record says which precision ran.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch only where autocast runs: the engine's claim path stays torch-free
    import torch

from ablation.registry import Registry

NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
# The precisions a study may ask for, each with what it means (resolve_precision reads it).
PRECISIONS: Registry[str] = Registry("precision")
PRECISIONS.add("auto", "bf16 where it trains faster on this CPU or GPU, else fp32")
PRECISIONS.add("fp32", "full precision")
PRECISIONS.add("bf16", "bf16 autocast, also where the CPU only emulates it")
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

    ``flags`` stands in for this CPU's flags (tests inject a CPU without bf16); with injected
    flags "auto" follows the flags alone (native bf16 or fp32), as no measurement can stand in
    for an injected CPU.
    """
    if requested == "auto":
        if flags is not None:
            return "bf16" if bf16_native(flags) else "fp32"
        return _host_auto(os.environ.get(PROBE_ENV, ""))
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}")
    return requested


PROBE_ENV = "ABLATE_PRECISION_PROBE"


@functools.cache
def _host_auto(override: str) -> str:
    return auto_precision(_host_flags(), override=override)


def mkldnn_bf16() -> bool:
    """Whether oneDNN runs bf16 here at all (natively or emulated); True where torch cannot say,
    so that the measurement decides."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return True


def auto_precision(flags: Iterable[str], *, override: str = "",
                   emulated: Callable[[], bool] = mkldnn_bf16,
                   measure: Callable[[], dict[str, float]] | None = None,
                   cache: Path | None = None) -> str:
    """What "auto" means on a CPU with ``flags``: the flags where they settle it, else the cached
    or newly measured faster precision (``training/bf16probe.py``).

    ``override`` is ABLATE_PRECISION_PROBE's value: "fp32"/"bf16" answer, "off" keeps the flags
    only, "again" measures anew. ``emulated`` says whether oneDNN runs bf16 at all; ``measure``
    and ``cache`` stand in for the timing and its file (tests inject both).
    """
    from ablation.training import bf16probe

    flags = frozenset(flags)
    override = override.strip().lower()
    if override in ("fp32", "bf16"):
        return override
    if bf16_native(flags):
        return "bf16"
    if override == "off" or not emulated():
        return "fp32"
    import torch

    key = bf16probe.machine_key(flags, cpu_model(), torch.__version__)
    return bf16probe.probed_precision(key, measure, cache, again=override == "again")


def cpu_model(cpuinfo: Path = CPUINFO) -> str:
    """The CPU's model name from ``cpuinfo`` ("unknown" where it has none)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return "unknown"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return "unknown"


def autocast(precision: str, device_type: str = "cpu") -> torch.autocast:
    """The autocast context for an effective ``precision`` ("fp32", "bf16" or "fp16", the last
    on GPUs without bf16) on ``device_type`` ("cpu", "cuda", "mps")."""
    import torch

    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device_type, dtype=dtype, enabled=precision in ("bf16", "fp16"))
