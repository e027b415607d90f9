"""Precision "auto": bf16 only where the CPU's flags say it computes bf16 natively."""

from __future__ import annotations

from pathlib import Path

import pytest

from ablation.training.precision import cpu_flags, resolve_precision

# An Intel Xeon with AVX-512 but no AVX512-BF16 (where oneDNN emulates bf16 at half fp32 speed).
XEON_NO_BF16 = {"fpu", "sse2", "avx2", "avx512f", "avx512bw", "avx512_vnni"}


def test_auto_is_fp32_on_a_cpu_without_native_bf16() -> None:
    assert resolve_precision("auto", XEON_NO_BF16) == "fp32"


@pytest.mark.parametrize("flag", ["avx512_bf16", "amx_bf16"])
def test_auto_is_bf16_where_the_flags_have_it(flag: str) -> None:
    assert resolve_precision("auto", XEON_NO_BF16 | {flag}) == "bf16"


def test_explicit_choices_are_honoured_whatever_the_cpu() -> None:
    assert resolve_precision("bf16", XEON_NO_BF16) == "bf16"
    assert resolve_precision("fp32", {"avx512_bf16"}) == "fp32"


def test_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 amx_bf16\n\n"
                    "processor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(info) == {"fpu", "avx2", "amx_bf16"}
    assert cpu_flags(tmp_path / "missing") == frozenset()
