"""Run a study: register its points, claim them one by one, train, and store everything.

The trainer comes in as an argument (``fit_fn``) so tests can drive the engine with a fake fit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import optuna
import torch
from sqlalchemy import exc as sa_exc

from ablation.analysis.records import EpochRecord, Metrics
from ablation.compression.evaluate import compress_and_evaluate, wants_artifact
from ablation.data.datasets import load_raw
from ablation.engine import tables as db
from ablation.engine.environment import environment
from ablation.engine.samplers import PointSampler, distributions
from ablation.engine.space import Point, fingerprint, grid_points
from ablation.engine.store import GRACE_SECONDS, Store, open_store
from ablation.errors import UserError
from ablation.spec.config import TrainConfig
from ablation.spec.study import StudySpec
from ablation.training.checkpoint import EpochCheckpoint, checkpoint_path
from ablation.training.fit import FitResult
from ablation.training.precision import resolve_precision

FitFn = Callable[..., FitResult]


class Progress(Protocol):
    """What the engine tells a display (the CLI draws it; tests may ignore it)."""

    def study_start(self, spec: StudySpec, total: int, remaining: int) -> None: ...
    def trial_start(self, point: Point, trial_number: int) -> None: ...
    def epoch(self, record: EpochRecord, epochs: int) -> None: ...
    def trial_end(self, point: Point, metrics: Metrics | None, state: str) -> None: ...
    def waiting(self, running: int, grace_seconds: int) -> None: ...


class _Silent:
    def study_start(self, spec: StudySpec, total: int, remaining: int) -> None: ...
    def trial_start(self, point: Point, trial_number: int) -> None: ...
    def epoch(self, record: EpochRecord, epochs: int) -> None: ...
    def trial_end(self, point: Point, metrics: Metrics | None, state: str) -> None: ...
    def waiting(self, running: int, grace_seconds: int) -> None: ...


@dataclass(frozen=True)
class RunOptions:
    """Where and how to run (not what: that is the StudySpec)."""

    storage_url: str
    artifacts_dir: Path
    data_dir: Path
    threads: int = 0  # torch threads; 0 keeps torch's default
    worker: str = ""
    max_trials: int | None = None  # stop after this many trials (the rest stay pending)
    grace_seconds: int = GRACE_SECONDS  # a running point silent this long is taken over


@dataclass(frozen=True)
class RunSummary:
    """What a run did."""

    study_name: str
    total: int
    ran: int
    already_done: int
    remaining: int


def _point_from_row(row: db.PointRow) -> Point:
    return Point(row.key, row.ordinal, row.axis, row.label, row.seed, row.params,
                 TrainConfig(**row.config), row.is_baseline)


def prepare(spec: StudySpec, options: RunOptions) -> tuple[Store, optuna.Study, list[Point]]:
    """Check data and storage, then create (or reopen) the study and register its points.

    Everything a user can get wrong is checked before the first write.
    """
    if not all(a.is_grid for a in spec.axes):
        raise UserError(f"{spec.source}: low/high axes need the sampled-search engine, which "
                        "this version does not have yet; list the values with 'choices'")
    points = grid_points(spec)
    for name in sorted({p.config.dataset for p in points}):
        load_raw(name, str(options.data_dir))
    _check_artifacts_dir(options.artifacts_dir)
    store = open_store(options.storage_url, grace_seconds=options.grace_seconds)
    study = optuna.create_study(storage=store.optuna, study_name=spec.storage_name,
                                direction=_direction(spec.direction), sampler=PointSampler(),
                                pruner=_pruner(spec.pruner), load_if_exists=True)
    stored = study.user_attrs.get("fingerprint")
    if stored is not None and stored != fingerprint(spec):
        raise UserError(f"study {spec.storage_name!r} in {options.storage_url} was created from "
                        "a different baseline or axes; give the study a new name or use another "
                        "--storage")
    if stored is None:
        try:
            study.set_user_attr("fingerprint", fingerprint(spec))
            study.set_user_attr("spec", _spec_record(spec))
        except (optuna.exceptions.StorageInternalError, sa_exc.IntegrityError):
            # Two workers created the study together and both wrote these; keep the first.
            if study.user_attrs.get("fingerprint") != fingerprint(spec):
                raise
    db.create_tables(store.engine)
    db.add_points(store.engine, spec.storage_name, (p.as_row() for p in points))
    return store, study, points


def _check_artifacts_dir(path: Path) -> None:
    """Artifacts and checkpoints must be writable before the first trial starts (nothing is
    created here: the first trial makes the folder)."""
    existing = next(p for p in (path, *path.parents) if p.exists() or p == Path(p.anchor))
    if not existing.is_dir():
        raise UserError(f"--artifacts {path}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"--artifacts {path}: {existing} is not writable")


def _spec_record(spec: StudySpec) -> dict[str, Any]:
    return {"name": spec.name, "source": spec.source, "metric": spec.metric,
            "mode": spec.mode, "axes": [a.name for a in spec.axes],
            "baseline": spec.baseline.describe(), "overrides": dict(spec.overrides)}


def _direction(name: str) -> optuna.study.StudyDirection:
    return (optuna.study.StudyDirection.MAXIMIZE if name == "maximize"
            else optuna.study.StudyDirection.MINIMIZE)


def _pruner(name: str) -> optuna.pruners.BasePruner:
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if name == "successive-halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def run_study(spec: StudySpec, options: RunOptions, fit_fn: FitFn,
              progress: Progress | None = None) -> RunSummary:
    """Run every point of ``spec`` not yet done; re-running a finished study runs nothing."""
    shown = progress or _Silent()
    store, study, points = prepare(spec, options)
    if options.threads:
        torch.set_num_threads(options.threads)
    name = spec.storage_name
    rows = db.list_points(store.engine, name)
    wanted = {p.key for p in points}
    done_before = sum(r.state == "done" for r in rows if r.key in wanted)
    shown.study_start(spec, len(points), len(points) - done_before)
    ran = work(spec, options, store, study, fit_fn, shown)
    left = sum(r.state != "done" for r in db.list_points(store.engine, name))
    return RunSummary(name, len(points), ran, done_before, left)


def work(spec: StudySpec, options: RunOptions, store: Store, study: optuna.Study,
         fit_fn: FitFn, shown: Progress) -> int:
    """Claim and run points until none is left; returns how many trials this worker ran.

    When nothing is claimable but other workers still run points, wait: if one of them dies,
    its point goes stale after the grace period and is taken over here, so nothing is lost.
    """
    name = spec.storage_name
    worker = options.worker or f"{socket.gethostname()}:{os.getpid()}"
    env = environment(options.threads or torch.get_num_threads())
    poll = max(0.5, min(2.0, options.grace_seconds / 4))  # one cheap SELECT per poll
    ran, said_waiting = 0, False
    while options.max_trials is None or ran < options.max_trials:
        optuna.storages.fail_stale_trials(study)
        stale = db.now() - dt.timedelta(seconds=options.grace_seconds)
        row = db.claim_point(store.engine, name, worker, stale)
        if row is None:
            running = sum(r.state == "running" for r in db.list_points(store.engine, name))
            if running == 0:
                break
            if not said_waiting:
                shown.waiting(running, options.grace_seconds)
            said_waiting = True
            time.sleep(poll)
            continue
        said_waiting = False
        retry_of = row.trial_number  # the trial that ran this point before (failed or died)
        if retry_of is not None:
            _fail_dead_trial(study, retry_of)
        _run_point(spec, options, store, study, _point_from_row(row), row.id, fit_fn, env, shown,
                   retry_of)
        ran += 1
    return ran


def _fail_dead_trial(study: optuna.Study, number: int) -> None:
    """Mark the trial of a taken-over point FAIL if it is still RUNNING (its worker died).

    Usually fail_stale_trials has done so already; this covers the moment between the point's
    heartbeat and the trial's heartbeat going stale.
    """
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if t.number == number:
            # Another worker may have failed it first.
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)


class _Heartbeat:
    """Refreshes the trial's and the point's heartbeat while a trial runs."""

    def __init__(self, store: Store, trial_id: int, point_id: int) -> None:
        self._store, self._trial_id, self._point_id = store, trial_id, point_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._store.heartbeat_seconds):
            self._store.optuna.record_heartbeat(self._trial_id)
            db.beat(self._store.engine, [self._point_id])

    def __enter__(self) -> _Heartbeat:
        self._store.optuna.record_heartbeat(self._trial_id)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _run_point(spec: StudySpec, options: RunOptions, store: Store, study: optuna.Study,
               point: Point, point_id: int, fit_fn: FitFn, env: dict[str, Any],
               shown: Progress, retry_of: int | None = None) -> None:
    """Train one point as one Optuna trial and record its outcome."""
    sampler = study.sampler
    assert isinstance(sampler, PointSampler)
    sampler.values = point.params
    trial = study.ask(distributions(spec, point.params))
    for key, value in (("axis", point.axis), ("label", point.label), ("seed", point.seed),
                       ("point_key", point.key), ("is_baseline", point.is_baseline)):
        trial.set_user_attr(key, value)
    if retry_of is not None:
        trial.set_user_attr("retry_of", retry_of)
    name = spec.storage_name
    # Recorded now, so a worker taking the point over after a crash can fail this trial.
    db.set_point(store.engine, point_id, "running", trial.number)
    db.start_run(store.engine, name, trial.number, point.key, point.seed,
                 point.config.describe(),
                 {**env, "precision": resolve_precision(point.config.precision)})
    shown.trial_start(point, trial.number)
    ckpt = EpochCheckpoint(checkpoint_path(options.artifacts_dir, name, point.key))

    def on_epoch(record: EpochRecord) -> None:
        db.add_epoch(store.engine, name, trial.number, dataclasses.asdict(record))
        trial.report(record.val_accuracy, record.epoch)
        shown.epoch(record, point.config.epochs)
        if trial.should_prune():
            raise optuna.TrialPruned()

    try:
        # Recording and compression (which may fine-tune for epochs) stay under the heartbeat,
        # so no other worker takes the point over meanwhile, and a failure there fails the trial
        # here instead of leaving it RUNNING until stale detection.
        with _Heartbeat(store, trial._trial_id, point_id):
            result = fit_fn(point.config, point.seed, data_dir=options.data_dir,
                            on_epoch=on_epoch, checkpoint=ckpt)
            _note_resume(trial, ckpt)
            _record_result(trial, result, options, store)
            values = dataclasses.asdict(result.metrics)
            if wants_artifact(point.config):
                values.update(_record_compression(trial, result, point, options, store))
    except optuna.TrialPruned:
        _note_resume(trial, ckpt)
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        db.set_point(store.engine, point_id, "done", trial.number)
        ckpt.delete()
        shown.trial_end(point, None, "pruned")
        return
    except BaseException as exc:
        # Ctrl-C and user-fixable trouble (disk full, ...) are not the point's fault: it goes
        # back to pending, keeping its attempts, and resumes from its checkpoint next time.
        interrupted = isinstance(exc, KeyboardInterrupt)
        _note_resume(trial, ckpt)
        trial.set_user_attr("failure", "interrupted" if interrupted else repr(exc)[:500])
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        back = "pending" if isinstance(exc, KeyboardInterrupt | UserError) else "failed"
        db.set_point(store.engine, point_id, back, trial.number)
        raise
    study.tell(trial, values[spec.metric])
    db.set_point(store.engine, point_id, "done", trial.number)
    db.finish_run(store.engine, name, trial.number)
    ckpt.delete()
    shown.trial_end(point, result.metrics, "complete")


def _note_resume(trial: optuna.Trial, ckpt: EpochCheckpoint) -> None:
    if ckpt.resumed_from is not None:
        trial.set_user_attr("resumed_from_epoch", ckpt.resumed_from)


def _record_result(trial: optuna.Trial, result: FitResult, options: RunOptions,
                   store: Store) -> None:
    """Every metric as a user attribute; the final weights as an Optuna artifact."""
    for key, value in dataclasses.asdict(result.metrics).items():
        trial.set_user_attr(key, [list(r) for r in value] if key == "confusion" else value)
    options.artifacts_dir.mkdir(parents=True, exist_ok=True)
    artifact_store = optuna.artifacts.FileSystemArtifactStore(str(options.artifacts_dir))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"trial-{trial.number}-weights.pt"
        torch.save(result.model.state_dict(), path)
        artifact_id = optuna.artifacts.upload_artifact(
            artifact_store=artifact_store, file_path=str(path), study_or_trial=trial,
            storage=store.optuna, mimetype="application/octet-stream")
        # The confusion matrix also as a small file, so optuna-dashboard lists it beside the
        # weights (user attributes are not downloadable there).
        cm_path = Path(tmp) / f"trial-{trial.number}-confusion.json"
        cm_path.write_text(json.dumps({"rows": "true class", "columns": "predicted class",
                                       "matrix": [list(r) for r in result.metrics.confusion]}))
        optuna.artifacts.upload_artifact(
            artifact_store=artifact_store, file_path=str(cm_path), study_or_trial=trial,
            storage=store.optuna, mimetype="application/json")
    trial.set_user_attr("weights_artifact", artifact_id)


def _record_compression(trial: optuna.Trial, result: FitResult, point: Point,
                        options: RunOptions, store: Store) -> dict[str, Any]:
    """Compress as the config says, write the artifact, reload it, score it, keep it."""
    artifact_store = optuna.artifacts.FileSystemArtifactStore(str(options.artifacts_dir))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"trial-{trial.number}-{point.config.quantize}.ablt"
        measured = compress_and_evaluate(result, point.config, point.seed,
                                         data_dir=options.data_dir, path=path)
        artifact_id = optuna.artifacts.upload_artifact(
            artifact_store=artifact_store, file_path=str(path), study_or_trial=trial,
            storage=store.optuna, mimetype="application/octet-stream")
    for key, value in dataclasses.asdict(measured).items():
        trial.set_user_attr(key, value)
    trial.set_user_attr("compressed_artifact", artifact_id)
    return dataclasses.asdict(measured)
