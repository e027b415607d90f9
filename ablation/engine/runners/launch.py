"""How local worker processes start: forked from one server process that imported torch and the
worker's modules once, where the platform has it ('forkserver'), else 'spawn'.

A spawned worker imports torch, torch._dynamo (every optimizer step imports it) and the engine
itself: 3-5 s and ~400 MB of private memory per process (docs/results-speed.md, issue 23). The
fork server does that once; its children share those pages copy-on-write, so each worker adds
mostly what its trials allocate. The server is a fresh process, not a fork of the command: it
inherits no database connection and no torch thread pool; its children get the command's
environment as it is when they start (worker_main sets it), not the server's. GPU workers are
spawned as before.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import ForkServerContext, SpawnContext

# What every CPU worker imports before its first trial; a module that fails to import in the
# server is skipped there (the worker imports it itself, or reports the error it gets).
PRELOAD = ("torch", "torch._dynamo", "ablation.training.fit", "ablation.engine.trials.worker",
           "ablation.engine.trials.recording", "ablation.compression.evaluate")


def worker_context(gpu: bool = False) -> SpawnContext | ForkServerContext:
    """The multiprocessing context local workers start from; ``gpu`` workers are spawned, so
    that nothing CUDA-related was read before their CUDA_VISIBLE_DEVICES is set."""
    if gpu or "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))
    return ctx


def uses_gpu(device: str) -> bool:
    """Whether trials on ``device`` (auto, cpu, cuda, cuda:N, mps) would run on a GPU here."""
    from ablation.config.devices import DEVICES
    from ablation.training.device import machine_for, pick_device

    return not DEVICES.get(pick_device(device, machine_for(device)).partition(":")[0]).everywhere
