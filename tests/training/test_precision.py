"""Precision "auto": bf16 only where the CPU's flags say it computes bf16 natively."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ablation.training.bf16probe import choose, measure_step
from ablation.training.precision import (
    PROBE_ENV,
    auto_precision,
    cpu_flags,
    cpu_model,
    resolve_precision,
)

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


# --- "auto" where the flags are not enough: a cached measurement decides -------------------------

def _never() -> dict[str, float]:
    raise AssertionError("measured although the flags settle it")


def _timings(fp32: float, bf16: float):  # noqa: ANN202 - a counting fake measurement
    calls: list[int] = []

    def measure() -> dict[str, float]:
        calls.append(1)
        return {"fp32": fp32, "bf16": bf16}

    return measure, calls


@pytest.mark.parametrize("flag", ["avx512_bf16", "amx_bf16"])
def test_native_flags_choose_bf16_without_measuring(flag: str, tmp_path: Path) -> None:
    assert auto_precision(XEON_NO_BF16 | {flag}, measure=_never,
                          cache=tmp_path / "p.json") == "bf16"
    assert not (tmp_path / "p.json").exists()


def test_no_onednn_bf16_means_fp32_without_measuring(tmp_path: Path) -> None:
    assert auto_precision(XEON_NO_BF16, emulated=lambda: False, measure=_never,
                          cache=tmp_path / "p.json") == "fp32"


@pytest.mark.parametrize(("fp32", "bf16", "expected"), [
    (4.3, 7.8, "fp32"),   # emulated bf16 at about half fp32's speed (the Intel Xeon measured)
    (4.0, 3.8, "fp32"),   # within the margin: a tie goes to fp32
    (4.0, 2.0, "bf16"),   # clearly faster: bf16
])
def test_emulated_bf16_is_decided_by_measuring(fp32: float, bf16: float, expected: str,
                                               tmp_path: Path) -> None:
    measure, calls = _timings(fp32, bf16)
    assert auto_precision(XEON_NO_BF16, emulated=lambda: True, measure=measure,
                          cache=tmp_path / "p.json") == expected
    assert calls == [1]


@pytest.mark.parametrize("flags", [XEON_NO_BF16, frozenset()])  # frozenset(): unreadable flags
def test_the_measurement_is_cached_per_machine(flags: frozenset[str], tmp_path: Path) -> None:
    cache = tmp_path / "sub" / "p.json"
    measure, calls = _timings(4.0, 2.0)
    for _ in range(3):
        assert auto_precision(flags, emulated=lambda: True, measure=measure,
                              cache=cache) == "bf16"
    assert calls == [1]
    stored = json.loads(cache.read_text())
    (entry,) = stored.values()
    assert entry["choice"] == "bf16" and entry["fp32_step_s"] == 4.0
    # another CPU kind (other flags) is measured on its own
    other, other_calls = _timings(4.0, 8.0)
    assert auto_precision(flags | {"avx512_fp16"}, emulated=lambda: True, measure=other,
                          cache=cache) == "fp32"
    assert other_calls == [1] and len(json.loads(cache.read_text())) == 2


def test_a_broken_cache_file_is_measured_again_and_rewritten(tmp_path: Path) -> None:
    cache = tmp_path / "p.json"
    cache.write_text("{not json")
    measure, calls = _timings(4.0, 9.0)
    assert auto_precision(XEON_NO_BF16, emulated=lambda: True, measure=measure,
                          cache=cache) == "fp32"
    assert calls == [1] and json.loads(cache.read_text())


@pytest.mark.parametrize(("override", "expected", "measured"), [
    ("fp32", "fp32", 0), ("BF16", "bf16", 0), ("off", "fp32", 0), ("again", "bf16", 2)])
def test_the_environment_override(override: str, expected: str, measured: int,
                                  tmp_path: Path) -> None:
    cache = tmp_path / "p.json"
    measure, calls = _timings(4.0, 2.0)
    auto_precision(XEON_NO_BF16, emulated=lambda: True, measure=measure, cache=cache)
    calls.clear()
    for _ in range(2):
        assert auto_precision(XEON_NO_BF16, override=override, emulated=lambda: True,
                              measure=measure, cache=cache) == expected
    assert len(calls) == measured


def test_the_override_beats_native_flags() -> None:
    assert auto_precision({"amx_bf16"}, override="fp32", measure=_never) == "fp32"


def test_host_auto_reads_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROBE_ENV, "fp32")
    assert resolve_precision("auto") == "fp32"
    monkeypatch.setenv(PROBE_ENV, "bf16")
    assert resolve_precision("auto") == "bf16"


def test_the_probe_measures_both_precisions() -> None:
    timings = measure_step(repeats=1)
    assert set(timings) == {"fp32", "bf16"} and all(t > 0 for t in timings.values())
    assert choose(timings) in ("fp32", "bf16")


def test_the_cpu_model_is_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU 9000\nflags\t\t: fpu\n")
    assert cpu_model(info) == "Some CPU 9000"
    assert cpu_model(tmp_path / "missing") == "unknown"
