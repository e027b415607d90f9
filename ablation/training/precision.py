"""Which precision a run trains in, and the autocast context for it."""

from __future__ import annotations

import functools

import torch


@functools.cache
def bf16_supported() -> bool:
    """Whether this CPU runs bf16 natively (AVX512-BF16/AMX); elsewhere bf16 is emulated, slow."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast(precision: str) -> torch.autocast:
    """The autocast context of ``precision``: bf16 only where the CPU runs it natively.

    Elsewhere "bf16" falls back to fp32 rather than crawling through emulated bf16.
    """
    return torch.autocast("cpu", dtype=torch.bfloat16,
                          enabled=precision == "bf16" and bf16_supported())
