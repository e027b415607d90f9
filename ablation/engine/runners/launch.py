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
# Measured (py-spy over the quick start, 2-core AMD EPYC family 26, idle): with the first six
# alone, each worker still imported alembic (the storage's schema check, 0.8 s), rich through the
# progress display (0.7 s) and optuna.artifacts (0.2 s) before its first trial.
PRELOAD = ("torch", "torch._dynamo", "ablation.training.fit", "ablation.engine.trials.worker",
           "ablation.engine.trials.recording", "ablation.compression.evaluate",
           "alembic.config", "alembic.script", "optuna.artifacts", "ablation.reporting.console",
           "ablation.engine.storage.schema")


def worker_context(gpu: bool = False) -> SpawnContext | ForkServerContext:
    """The multiprocessing context local workers start from; ``gpu`` workers are spawned, so
    that nothing CUDA-related was read before their CUDA_VISIBLE_DEVICES is set."""
    if gpu or "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))
    return ctx


def start_fork_server() -> None:
    """Start the fork server now, so that its imports (torch, torch._dynamo, the worker's
    modules: 5-6 s of one core) overlap the command's own start instead of following it.

    Measured on the quick start (2-core AMD EPYC family 26, idle): the first trial started 7.1 s
    after the run's first line when the server started with the first worker. Only where 2+ cores
    can run the two starts side by side; a run that ends up in one process leaves it unused.
    """
    import os
    from multiprocessing import forkserver

    if "forkserver" not in multiprocessing.get_all_start_methods() or len(
            os.sched_getaffinity(0)) < 2:
        return
    worker_context()  # sets the preload list the server imports
    forkserver.ensure_running()


# What the command itself imports only at the end of a run (the verdict table's statistics, the
# dashboard note): ~5 s of imports under load, ~2 s idle, on the critical path after the last
# trial. Imported while the command waits for its workers' fork server instead.
END_OF_RUN = ("ablation.analysis.contrasts", "ablation.reporting.exports",
              "ablation.engine.results.notes", "optuna_dashboard")


def warm_end_of_run_imports() -> None:
    """Import END_OF_RUN in a background thread of the command (it idles while workers train)."""
    import importlib
    import threading

    def work() -> None:
        for name in END_OF_RUN:
            try:
                importlib.import_module(name)
            except Exception:  # the end of the run imports it again, and says why
                return

    threading.Thread(target=work, name="ablate-warm-imports", daemon=True).start()


def uses_gpu(device: str) -> bool:
    """Whether trials on ``device`` (auto, cpu, cuda, cuda:N, mps) would run on a GPU here."""
    from ablation.config.devices import DEVICES
    from ablation.training.device import machine_for, pick_device

    return not DEVICES.get(pick_device(device, machine_for(device)).partition(":")[0]).everywhere
