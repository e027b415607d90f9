"""``--workers auto``: how many local worker processes a study gets, and with how many threads.

Small CPU trials use the cores best as single-threaded processes: every parallel region of a
two-threaded step waits for both threads, and on a shared 2-core machine two threads of one
process ran 15-30x slower per trial than one (docs/results-speed.md, issue 13). So auto runs one
single-threaded worker per core, no more than there are trials to run and memory holds; one
process with every thread where that cannot pay: big models (their steps are long enough to
share), a GPU (the device, not the cores, is the shared resource), or a study too small to
repay the seconds each extra process spends starting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ablation.engine.storage.store import Store
from ablation.engine.trials.preflight import cores
from ablation.spec.space import Point
from ablation.spec.study import StudySpec

# A worker process spends ~3-5 s importing torch and its stack before its first trial (idle
# 2-core machines, docs/results-speed.md); the quick start's trials train ~2,900 image-epochs
# a second on one core (width-32 resnet-lite on 8x8 digits, 4.5 s a trial). Below ~50,000
# image-epochs a study is over before a second process would have paid for its start.
MIN_IMAGE_EPOCHS = 50_000
# Parameters from which a model's steps are big enough for threads to share: resnet-lite,
# lenet and the plain CNN stay under 1.5 M; resnet50 has 23.5 M.
BIG_MODEL_PARAMS = 5_000_000
# Memory one more CPU worker takes: a quick-start worker forked from the fork server
# (engine/launch.py) peaked at 180-187 MB of its own pages (USS; RSS ~550 MB counts the pages it
# shares), docs/results-speed.md, issue 23; twice that leaves room for bigger data sets and
# models. So memory, not only cores, bounds auto: 8 GB free hold 19 such workers.
WORKER_BYTES = 400 * 2**20


@dataclass(frozen=True)
class WorkerPlan:
    """Workers and torch threads per worker (0: torch's default), and why, for the run's first
    line."""

    workers: int
    threads: int
    why: str

    def line(self) -> str:
        """The run's first line: what --workers auto chose and why."""
        per = "all threads" if self.threads == 0 else \
            f"{self.threads} thread{'s' if self.threads > 1 else ''}"
        noun = "worker process" if self.workers == 1 else "worker processes"
        return f"--workers auto: {self.workers} {noun} x {per} ({self.why})"


def choose(trials: int, image_epochs: int, params: int, on_gpu: bool, have_cores: int,
           free_bytes: int | None, threads: int = 0) -> WorkerPlan:
    """The plan for ``trials`` to run of ``image_epochs`` in all (pure; see the module)."""
    if on_gpu:
        return WorkerPlan(1, threads, "trials run on the GPU")
    if params >= BIG_MODEL_PARAMS:
        return WorkerPlan(1, threads, f"a model of {params / 1e6:.1f} M parameters: big steps "
                          "share the cores as threads")
    if image_epochs < MIN_IMAGE_EPOCHS:
        return WorkerPlan(1, threads, f"{image_epochs:,} image-epochs: too small a study to "
                          "repay starting more processes")
    per = threads or 1
    workers = max(1, min(have_cores // per, trials))
    why = f"{have_cores} cores, {trials} trials to run"
    if free_bytes is not None and free_bytes // WORKER_BYTES < workers:
        workers = max(1, int(free_bytes // WORKER_BYTES))
        why += f", {free_bytes / 2**30:.1f} GiB free memory"
    if workers == 1:
        return WorkerPlan(1, threads, why)
    return WorkerPlan(workers, threads or max(1, have_cores // workers), why)


def free_memory() -> int | None:
    """Bytes the kernel says are available for new processes (MemAvailable), None if unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def plan_workers(spec: StudySpec, data_dir: Path, trials_left: int, threads: int = 0,
                 on_gpu: bool = False) -> WorkerPlan:
    """``--workers auto`` for ``spec``'s ``trials_left`` (data sets are loaded: the parent
    loaded them once to check them; the model is built once to count its parameters)."""
    from ablation.data.datasets import load_raw
    from ablation.models import build_model

    base = spec.baseline
    raw = load_raw(base.dataset, str(data_dir))
    train = len(raw.train_y) * (1 - base.val_fraction)
    images = min(train, base.train_limit) if base.train_limit else train
    c, h, w = (int(n) for n in raw.train_x.shape[1:])
    model = build_model(base.model, (c, h, w), len(raw.classes),
                        base.activation, width=base.width, blocks=base.blocks,
                        dropout=base.dropout)
    params = sum(p.numel() for p in model.parameters())
    return choose(trials_left, int(images * base.epochs * trials_left), params, on_gpu,
                  cores(), free_memory(), threads)


def trials_left(store: Store, spec: StudySpec, points: Sequence[Point]) -> int:
    """Trials this run has to train: a grid's points not yet done, or a search's budget."""
    if spec.is_search or not points:
        return spec.n_trials
    from ablation.engine.storage import db
    from ablation.engine.storage.schema import has_table

    if not has_table(store.engine, db.POINTS.name):
        return len(points)
    keys = {p.key for p in points}
    done = sum(r.state == "done" for r in db.list_points(store.engine, spec.storage_name)
               if r.key in keys)
    return len(points) - done
