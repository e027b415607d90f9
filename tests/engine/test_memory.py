"""Local workers' memory is measured, said, and warned about when N workers will not fit
(issue 21: 16 workers on a 2-core machine took ~13 GB without a word)."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from ablation.engine.runners.memory import (
    MemoryWatch,
    available_bytes,
    fitting_workers,
    peak_rss_bytes,
    rss_bytes,
    warn_before_start,
)

MB = 2**20
linux = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")


def test_available_memory_is_read_from_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16000000 kB\nMemFree:  100 kB\n"
                       "MemAvailable:    8000000 kB\n")
    assert available_bytes(meminfo) == 8_000_000 * 1024
    assert available_bytes(tmp_path / "missing") is None


def test_fitting_workers_is_at_least_one():
    assert fitting_workers(800 * MB, 13_000 * MB) == 16
    assert fitting_workers(800 * MB, 100 * MB) == 1


def test_a_warning_before_start_only_when_the_workers_would_not_fit():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        warn_before_start(4, 500 * MB, 4000 * MB)  # 2 GB of 4: fits
        warn_before_start(16, 800 * MB, 4000 * MB)
    assert len(seen) == 1
    text = str(seen[0].message)
    assert "--workers 16" in text and "12,800 MB" in text and "use --workers 5" in text


@linux
def test_a_workers_peak_is_measured_and_too_many_workers_are_warned_about():
    child = subprocess.Popen([sys.executable, "-c", "import sys, time\n"
                              "blob = bytearray(96 * 2**20)\nprint('ok', flush=True)\n"
                              "sys.stdin.readline()"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "ok\n"
        watch = MemoryWatch(workers=8, available=500 * MB)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            watch.poll([child.pid])
            watch.poll([child.pid])  # once only
        peak = peak_rss_bytes(child.pid)
        assert peak is not None and peak >= 96 * MB
    finally:
        child.communicate("\n", timeout=30)
    assert watch.peaks[child.pid] >= 96 * MB
    assert len(seen) == 1 and "use --workers" in str(seen[0].message)
    line = watch.summary()
    assert line is not None and line.startswith("memory: each worker peaked at up to")
    assert "8 together" in line and "of 500 MB available" in line


@linux
def test_this_process_size_is_read():
    size = rss_bytes()
    assert size is not None and size > 10 * MB
