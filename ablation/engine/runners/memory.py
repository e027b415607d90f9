"""Memory of local workers, measured (resident set sizes read from /proc), not guessed: a
warning before ``--workers N`` starts when even the parent's own size times N exceeds the
memory available, another once the workers' measured peaks say they will not fit, and one line
at the end with what a worker took.

Each worker is a spawned process with its own copy of torch, the data set and the model (~800
MB each in one 16-worker run on MNIST), so N workers need N times that; swapping makes every
trial crawl, and the kernel's OOM killer ends a worker without a word.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path

PROC = Path("/proc")
POLL_SECONDS = 1.0


def _status_bytes(pid: int | str, key: str) -> int | None:
    """A size field (kB) of /proc/PID/status, in bytes; None off Linux or once PID is gone."""
    try:
        text = (PROC / str(pid) / "status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) * 1024
    return None


def rss_bytes(pid: int | str = "self") -> int | None:
    """Resident set size of a process now."""
    return _status_bytes(pid, "VmRSS")


def peak_rss_bytes(pid: int | str) -> int | None:
    """The largest resident set size a process has had (VmHWM)."""
    return _status_bytes(pid, "VmHWM")


def available_bytes(meminfo: Path = PROC / "meminfo") -> int | None:
    """Memory the kernel can give new work without swapping (MemAvailable)."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"


def fitting_workers(per_worker: int, available: int) -> int:
    """How many workers of ``per_worker`` bytes fit in ``available`` (at least one)."""
    return max(1, available // max(1, per_worker))


def warn_before_start(workers: int, per_worker: int | None, available: int | None) -> None:
    """Warn when ``workers`` times ``per_worker`` (the parent's RSS with the data loaded, a
    lower bound of a worker's) is more than the memory available."""
    if workers < 2 or not per_worker or available is None or workers * per_worker <= available:
        return
    warnings.warn(f"--workers {workers}: each worker takes at least {_mb(per_worker)} (this "
                  f"process's measured size with the data loaded), {_mb(workers * per_worker)} "
                  f"in all, but {_mb(available)} is available; use --workers "
                  f"{fitting_workers(per_worker, available)}", stacklevel=2)


class MemoryWatch:
    """The peak resident size of each worker, polled while they run."""

    def __init__(self, workers: int, available: int | None) -> None:
        self.workers, self.available = workers, available
        self.peaks: dict[int, int] = {}
        self.warned = False

    def poll(self, pids: Sequence[int]) -> None:
        """Read each live worker's peak; warn once when they will not fit together."""
        for pid in pids:
            peak = peak_rss_bytes(pid)
            if peak is not None:
                self.peaks[pid] = max(peak, self.peaks.get(pid, 0))
        need = self.workers * max(self.peaks.values(), default=0)
        if not self.warned and self.available is not None and need > self.available:
            self.warned = True
            most = max(self.peaks.values())
            warnings.warn(f"--workers {self.workers}: a worker has reached {_mb(most)} "
                          f"(measured), {_mb(need)} for all, but {_mb(self.available)} was "
                          "available at the start; expect swapping or a killed worker; use "
                          f"--workers {fitting_workers(most, self.available)}", stacklevel=2)

    def summary(self) -> str | None:
        """One line on what the workers took, or None when nothing could be measured."""
        if not self.peaks:
            return None
        most = max(self.peaks.values())
        free = f" of {_mb(self.available)} available at the start" if self.available else ""
        return (f"memory: each worker peaked at up to {_mb(most)} (resident, measured over "
                f"{len(self.peaks)} worker(s)); {self.workers} together up to "
                f"{_mb(self.workers * most)}{free}")


def join_watching(procs: Sequence[BaseProcess], watch: MemoryWatch) -> None:
    """Wait for every process to end, polling their memory meanwhile."""
    while alive := [p for p in procs if p.is_alive()]:
        watch.poll([p.pid for p in alive if p.pid is not None])
        wait([p.sentinel for p in alive], timeout=POLL_SECONDS)
    for p in procs:
        p.join()
