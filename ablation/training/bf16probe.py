"""Precision "auto" where the CPU's flags do not settle it: time fp32 against bf16 once.

A CPU whose flags name native bf16 (``avx512_bf16``, ``amx_bf16``) trains in bf16 and one whose
oneDNN cannot run bf16 at all trains in fp32: no measurement. In between (an AVX-512 CPU without
the bf16 flags, where oneDNN emulates bf16, or a CPU whose flags cannot be read, such as an ARM
core or a machine without /proc/cpuinfo) the answer is measured: a short conv + matmul training
step in each precision, best of a few repeats, bf16 only if it is clearly faster. The measurement
costs about a second and is cached per machine (CPU model, flags, torch version) in
``$ABLATE_CACHE/precision-probe.json`` (default ``~/.cache/ablate``), so it runs once.

``ABLATE_PRECISION_PROBE`` overrides it: ``fp32`` or ``bf16`` is the answer without measuring,
``off`` keeps the flags only (fp32 unless they name bf16), ``again`` measures and rewrites the
cache entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Callable, Iterable
from pathlib import Path

ENV = "ABLATE_PRECISION_PROBE"
CACHE_FILE = "precision-probe.json"
# bf16 must beat fp32 by this factor: it rounds activations, so a tie goes to fp32.
MARGIN = 0.9
Timings = dict[str, float]  # seconds per step: {"fp32": ..., "bf16": ...}
Measure = Callable[[], Timings]


def cache_path() -> Path:
    """Where probe results are kept (env ABLATE_CACHE, else ~/.cache/ablate)."""
    base = Path(os.environ.get("ABLATE_CACHE", Path.home() / ".cache" / "ablate"))
    return base / CACHE_FILE


def machine_key(flags: Iterable[str], cpu: str, torch_version: str) -> str:
    """A short stable key for this CPU kind and torch build."""
    text = "|".join([cpu, platform.machine(), torch_version, " ".join(sorted(flags))])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def choose(timings: Timings) -> str:
    """bf16 if its step is clearly faster than fp32's, else fp32."""
    return "bf16" if timings["bf16"] < MARGIN * timings["fp32"] else "fp32"


def measure_step(repeats: int = 5) -> Timings:
    """Seconds of one small conv + linear training step in fp32 and under bf16 autocast (best of
    ``repeats``): the shapes of resnet-lite's first block at width 16, batch 64."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                          nn.Conv2d(16, 32, 3, padding=1, stride=2), nn.ReLU(),
                          nn.Flatten(), nn.Linear(32 * 7 * 7, 256)).to(
                              memory_format=torch.channels_last)
    x = torch.randn(64, 16, 14, 14).contiguous(memory_format=torch.channels_last)
    result = {}
    for name in ("fp32", "bf16"):
        best = float("inf")
        for i in range(repeats + 2):  # the first two build oneDNN's kernels
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=name == "bf16"):
                out = model(x)
            out.float().square().mean().backward()
            if i >= 2:
                best = min(best, time.perf_counter() - t0)
        result[name] = best
    return result


def _read(path: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, key: str, entry: dict[str, object]) -> None:
    """Add ``entry`` under ``key``; a cache that cannot be written only costs a re-measure."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {**_read(path), key: entry}
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass


def probed_precision(key: str, measure: Measure | None = None, path: Path | None = None,
                     again: bool = False) -> str:
    """The cached answer for machine ``key``, measuring (and caching) it the first time."""
    path = path or cache_path()
    entry = _read(path).get(key)
    if not again and isinstance(entry, dict) and entry.get("choice") in ("fp32", "bf16"):
        return str(entry["choice"])
    timings = (measure or measure_step)()
    answer = choose(timings)
    _write(path, key, {"choice": answer, **{f"{k}_step_s": v for k, v in timings.items()},
                       "measured": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())})
    return answer
