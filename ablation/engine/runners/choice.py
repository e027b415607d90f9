"""The one protocol every runner meets, and the choice among them: in this process, local
worker processes (``--workers``, ``--devices``), or Ray tasks (``--ray``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from ablation.engine.options import FitFn, Progress, RunOptions, Silent
from ablation.engine.runners.device_plan import Placement
from ablation.engine.runners.local import ProgressFactory, run_workers
from ablation.engine.runners.ray_launcher import RayPlan, run_on_ray
from ablation.engine.storage.store import Store
from ablation.engine.trials.worker import run_study
from ablation.spec.study import StudySpec


class Runner(Protocol):
    """Runs every runnable point of one stage (a search: what is left of its budget)."""

    def __call__(self, spec: StudySpec, options: RunOptions) -> object: ...


class InProcess:
    """The stage's points, one after another, in this process."""

    def __init__(self, trainer: FitFn, store: Store, progress: Progress | None = None) -> None:
        self.trainer, self.store, self.progress = trainer, store, progress or Silent()

    def __call__(self, spec: StudySpec, options: RunOptions) -> object:
        return run_study(spec, options, self.trainer, self.progress, self.store)


class LocalWorkers:
    """``workers`` processes on this machine, or one per placement (``--devices``)."""

    def __init__(self, trainer: FitFn, store: Store, workers: int,
                 placements: Sequence[Placement], progress: ProgressFactory | None) -> None:
        self.trainer, self.store, self.workers = trainer, store, workers
        self.placements, self.progress = tuple(placements), progress

    def __call__(self, spec: StudySpec, options: RunOptions) -> object:
        return run_workers(spec, options, self.workers, self.trainer, self.progress, self.store,
                           self.placements)


class RayTasks:
    """Workers as tasks on a Ray cluster."""

    def __init__(self, trainer: FitFn, store: Store, plan: RayPlan,
                 progress: ProgressFactory | None) -> None:
        self.trainer, self.store, self.plan, self.progress = trainer, store, plan, progress

    def __call__(self, spec: StudySpec, options: RunOptions) -> object:
        return run_on_ray(spec, options, self.plan, self.trainer, self.progress, self.store)


def choose_runner(trainer: FitFn, store: Store, *, workers: int = 1,
                  placements: Sequence[Placement] = (), ray: RayPlan | None = None,
                  progress: Progress | None = None,
                  worker_progress: ProgressFactory | None = None) -> Runner:
    """Ray with a plan; local processes for several workers or any ``--devices`` placement
    (one GPU too: its process sees only that GPU); else this process."""
    if ray is not None:
        return RayTasks(trainer, store, ray, worker_progress)
    if workers > 1 or placements:
        return LocalWorkers(trainer, store, workers, placements, worker_progress)
    return InProcess(trainer, store, progress)
