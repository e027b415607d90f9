"""Several worker processes on this machine sharing one study.

Workers are separate processes forked from a fork server that imported torch once
(engine/launch.py), never forked from this process (it holds database connections and torch
thread pools). They coordinate only through the
database: each claims points with the conditional UPDATE in db.claim_point, so the result is the
same as one process running every point, and a machine-wide or multi-machine setup is the same
thing with more workers (``ablate worker`` on each machine).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace

from ablation.engine.options import FitFn, Progress, RunOptions, RunSummary
from ablation.engine.runners.device_plan import Placement
from ablation.engine.runners.launch import uses_gpu, worker_context
from ablation.engine.runners.memory import (
    MemoryWatch,
    available_bytes,
    join_watching,
    rss_bytes,
    warn_before_start,
)
from ablation.engine.runners.signals import prepare_worker_process
from ablation.engine.storage.connect import database_error, describe
from ablation.engine.storage.redaction import scrub
from ablation.engine.storage.store import Store, open_store
from ablation.engine.trials.register import register
from ablation.engine.trials.worker import count_done, run_study
from ablation.errors import UserError
from ablation.spec.study import StudySpec

ProgressFactory = Callable[[str], Progress]
STOP_WAIT_SECONDS = 60  # after Ctrl-C: time each worker gets to record its interrupted trial


class WorkersFailed(Exception):
    """One or more workers crashed (not a user error) and points are left undone."""


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_worker(workers: int, requested: int = 0, available: int | None = None) -> int:
    """torch threads for each of ``workers`` processes: ``requested``, else cores // workers.

    Oversubscribing cores (workers x threads > cores) makes every step much slower, not faster.
    """
    if requested > 0:
        return requested
    return max(1, (available or cores()) // workers)


def worker_main(spec: StudySpec, options: RunOptions, fit_fn: FitFn,
                progress: ProgressFactory | None,
                env: tuple[tuple[str, str], ...] = ()) -> None:
    """Entry point of one spawned worker: run points until none is left, then exit.

    ``env`` (the command's environment, then the placement's) is set first, before anything
    starts CUDA: a worker of ``--devices`` sees only its GPU (CUDA_VISIBLE_DEVICES).
    """
    os.environ.clear()  # the command's environment, not the fork server's (engine/launch.py)
    os.environ.update(dict(env))
    prepare_worker_process()  # SIGTERM like Ctrl-C, once; one-line warnings
    try:
        run_study(spec, options, fit_fn, progress(options.worker) if progress else None)
    except KeyboardInterrupt:
        sys.exit(130)
    except UserError as exc:
        print(f"error: [{options.worker}] {scrub(str(exc))}", file=sys.stderr, flush=True)
        sys.exit(2)
    except Exception as exc:
        if not database_error(exc):
            raise
        print(f"error: [{options.worker}] {describe(exc, 'database')}", file=sys.stderr,
              flush=True)
        sys.exit(2)


def run_workers(spec: StudySpec, options: RunOptions, workers: int, fit_fn: FitFn,
                progress: ProgressFactory | None = None, store: Store | None = None,
                placements: Sequence[Placement] = ()) -> RunSummary:
    """Run ``spec`` with ``workers`` local processes; returns what they did together.

    With ``placements`` (``--devices``), one worker per placement, each on its device.
    """
    store = store or open_store(options.storage_url, grace_seconds=options.grace_seconds)
    _study, points = register(spec, options, store)  # user errors surface once, before spawning
    name = spec.storage_name
    wanted = {p.key for p in points}
    done_before = count_done(store, name, wanted)
    where = list(placements) or [Placement((), spec.device)] * workers
    threads = threads_per_worker(len(where), options.threads)
    host = socket.gethostname()
    ctx = worker_context(gpu=bool(placements) or uses_gpu(spec.device))
    procs = [ctx.Process(target=worker_main, name=f"w{i}", daemon=False, args=(
        replace(spec, device=place.device),
        replace(options, threads=threads, worker=f"{host}:{os.getpid()}:w{i}"),
        fit_fn, progress, (*os.environ.items(), *place.env)))
        for i, place in enumerate(where, start=1)]
    free = available_bytes()
    warn_before_start(len(procs), rss_bytes(), free)
    watch = MemoryWatch(len(procs), free)
    for p in procs:
        p.start()
    try:
        join_watching(procs, watch)
    except KeyboardInterrupt:
        _stop(procs)
        raise
    if (line := watch.summary()) is not None:
        print(line, file=sys.stderr, flush=True)
    codes = [p.exitcode for p in procs]
    if 130 in codes:
        raise KeyboardInterrupt
    done_now = count_done(store, name, wanted)
    left = len(wanted) - done_now
    if left and any(c != 0 for c in codes):
        failed = ", ".join(f"{p.name} (exit {p.exitcode})" for p in procs if p.exitcode)
        if all(c in (0, 2) for c in codes):
            raise UserError(f"worker(s) {failed} stopped on the error above; {left} trial(s) "
                            "left, run the same command again to finish them")
        raise WorkersFailed(f"worker(s) {failed} failed; {left} trial(s) left; run the same "
                            "command again to retry them")
    return RunSummary(name, len(points), done_now - done_before, done_before, left)


def _stop(procs: Sequence[multiprocessing.process.BaseProcess]) -> None:
    """After Ctrl-C: make sure every worker saw it, and give each time to clean up."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for p in procs:
            if p.is_alive() and p.pid is not None:
                os.kill(p.pid, signal.SIGINT)
        for p in procs:
            p.join(STOP_WAIT_SECONDS)
            if p.is_alive():
                p.terminate()
    finally:
        signal.signal(signal.SIGINT, previous)
