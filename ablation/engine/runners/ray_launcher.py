"""Workers as Ray tasks on a Ray cluster: ``ablate run STUDY --ray [ADDRESS]``.

The driver (this process) registers the study once, then starts N Ray tasks, each asking Ray
for the resources of one trial (``--cpus-per-worker``, ``--gpus-per-worker``, fractions allowed).
Each task is an ordinary ablate worker (``run_study``): it claims points by the conditional
UPDATE in ``db.claim_point``, beats, records, and leaves when nothing is left. Ray only places
the processes; exactly-once comes from the database, as with local or hand-started workers.

A task whose process dies (node lost, preempted, killed) is retried by Ray; the retry, or any
other worker, takes the dead trial's point over once its heartbeat is stale, exactly as after a
SIGKILL, and resumes from its checkpoint when ``--artifacts`` is shared by the nodes.

Ray is optional (``ablate[ray]``): it is imported only here, inside the functions that need it.
"""

from __future__ import annotations

import importlib.util
import math
import os
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.engine import make_url

from ablation.engine.options import FitFn, RunOptions, RunSummary
from ablation.engine.runners.local import ProgressFactory, WorkersFailed
from ablation.engine.storage.store import Store, open_store, shown_url
from ablation.engine.trials.register import register
from ablation.engine.trials.worker import count_done, run_study
from ablation.errors import UserError
from ablation.spec.study import StudySpec

LOCAL = "local"  # ray.init's address for a new local instance, never an existing cluster
TASK_RETRIES = 3  # Ray re-runs a task whose process died (node lost, preempted) this often
POLL_SECONDS = 2.0  # the driver counts finished points this often (one SELECT)
STOP_WAIT_SECONDS = 60  # after Ctrl-C: time the workers get to record their interrupted trials


@dataclass(frozen=True)
class RayPlan:
    """Where and how big the Ray workers are."""

    address: str | None = None  # None: a new local Ray instance
    workers: int | None = None  # None: as many as the cluster holds, one per point at most
    cpus: float = 1.0  # Ray resources each worker (one trial at a time) asks for
    gpus: float = 0.0


def check_plan(plan: RayPlan, storage_url: str) -> None:
    """User errors of a Ray run, found before Ray starts and before anything is written."""
    if plan.address is not None and make_url(storage_url).get_backend_name() == "sqlite":
        raise UserError(f"--ray {plan.address}: workers on other nodes cannot share the SQLite "
                        f"file of --storage {shown_url(storage_url)}; use PostgreSQL or MySQL "
                        "(docs/clusters.md), or --ray without an address for a local instance")
    if plan.cpus <= 0 and plan.gpus <= 0:
        raise UserError("--cpus-per-worker and --gpus-per-worker are both 0: each worker must "
                        "ask Ray for some CPU or GPU")
    if importlib.util.find_spec("ray") is None:
        raise UserError("--ray needs Ray, which is not installed: pip install 'ablate[ray]'")


def capacity(resources: Mapping[str, float], cpus: float, gpus: float) -> int:
    """How many workers asking for ``cpus`` and ``gpus`` each fit in ``resources`` at once."""
    fits = [math.floor(resources.get(kind, 0.0) / need + 1e-9)
            for kind, need in (("CPU", cpus), ("GPU", gpus)) if need > 0]
    return min(fits) if fits else 0


def worker_count(plan: RayPlan, resources: Mapping[str, float], left: int) -> int:
    """``--workers`` when given, else what the cluster holds (no more than points left)."""
    if plan.workers is not None:
        return plan.workers
    fits = capacity(resources, plan.cpus, plan.gpus)
    if fits < 1 and left > 0:
        raise UserError(f"the Ray cluster ({resources.get('CPU', 0):g} CPU, "
                        f"{resources.get('GPU', 0):g} GPU) has no room for one worker asking "
                        f"for {plan.cpus:g} CPU and {plan.gpus:g} GPU")
    return min(fits, left)


def ray_worker_main(spec: StudySpec, options: RunOptions, fit_fn: FitFn,
                    progress: ProgressFactory | None, index: int) -> str:
    """Body of one Ray task: an ordinary worker on its node; returns '' or its user error."""
    tag = f"{socket.gethostname()}:{os.getpid()}:ray{index}"
    try:
        run_study(spec, replace(options, worker=tag), fit_fn, progress(tag) if progress else None)
    except UserError as exc:
        return f"[{tag}] {exc}"
    return ""


def _connect(plan: RayPlan) -> Any:
    # Ray folds similar log lines of different workers into one ("[repeated 2x across
    # cluster]"); each worker's trial lines are the driver's progress, so keep them all.
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    import ray

    try:
        ray.init(address=plan.address or LOCAL, log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"--ray {plan.address or ''}: cannot start or reach Ray: {reason}"
                        ) from None
    return ray


def _say(text: str) -> None:
    print(f"ray: {text}", file=sys.stderr, flush=True)


def run_on_ray(spec: StudySpec, options: RunOptions, plan: RayPlan, fit_fn: FitFn,
               progress: ProgressFactory | None = None, store: Store | None = None,
               say: Callable[[str], None] = _say) -> RunSummary:
    """Run ``spec`` with Ray tasks as workers; returns what they did together."""
    check_plan(plan, options.storage_url)
    store = store or open_store(options.storage_url, grace_seconds=options.grace_seconds)
    _study, points = register(spec, options, store)  # user errors surface once, on the driver
    name, wanted = spec.storage_name, {p.key for p in points}
    done_before = count_done(store, name, wanted)
    ray = _connect(plan)
    try:
        n = worker_count(plan, ray.cluster_resources(), len(wanted) - done_before)
        if n == 0:
            return RunSummary(name, len(wanted), 0, done_before, len(wanted) - done_before)
        # Ray sets OMP_NUM_THREADS from num_cpus; torch's threads follow the same request.
        opts = replace(options, threads=options.threads or max(1, int(plan.cpus)))
        task = ray.remote(ray_worker_main)
        refs = [task.options(name=f"ablate-worker-{i}", num_cpus=plan.cpus, num_gpus=plan.gpus,
                             max_retries=TASK_RETRIES, retry_exceptions=False
                             ).remote(spec, opts, fit_fn, progress, i)
                for i in range(1, n + 1)]
        say(f"{n} worker(s), each asking for {plan.cpus:g} CPU and {plan.gpus:g} GPU; "
            f"{len(wanted) - done_before} of {len(wanted)} points to run")
        errors = _wait(ray, refs, lambda: count_done(store, name, wanted), len(wanted), say)
    finally:
        ray.shutdown()
    done_now = count_done(store, name, wanted)
    _raise_if_left(errors, len(wanted) - done_now)
    return RunSummary(name, len(wanted), done_now - done_before, done_before,
                      len(wanted) - done_now)


def _wait(ray: Any, refs: Sequence[Any], done: Callable[[], int], total: int,
          say: Callable[[str], None]) -> list[tuple[bool, str]]:
    """Wait for every task, showing progress; returns (is_user_error, message) per failure."""
    pending, errors, shown = list(refs), [], -1
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=POLL_SECONDS)
            for ref in ready:
                try:
                    message = ray.get(ref)
                    if message:
                        errors.append((True, message))
                except Exception as exc:  # noqa: BLE001 - a crashed task is reported, not raised
                    errors.append((False, (str(exc).strip().splitlines() or ["?"])[-1]))
            if (now := done()) != shown:
                say(f"{now}/{total} points done, {len(pending)} worker(s) running")
                shown = now
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref)  # KeyboardInterrupt in the task: its trial is marked, point freed
        ray.wait(pending, num_returns=len(pending), timeout=STOP_WAIT_SECONDS)
        raise
    return errors


def _raise_if_left(errors: list[tuple[bool, str]], left: int) -> None:
    if not left or not errors:
        return
    text = "; ".join(message for _, message in errors)
    if all(user for user, _ in errors):
        raise UserError(f"Ray worker(s) stopped: {text}; {left} trial(s) left, run the same "
                        "command again to finish them")
    raise WorkersFailed(f"Ray worker(s) failed: {text}; {left} trial(s) left; run the same "
                        "command again to retry them")
