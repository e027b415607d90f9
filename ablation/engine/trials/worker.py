"""A worker: claims points of a registered study one by one, trains each as one Optuna trial and
records everything. Any number of workers (processes, machines) may share a study.

The trainer comes in as an argument, so the engine runs ablate's own ``fit``, a user's
``--trainer``, or a test's fake alike.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import math
import os
import socket
import time
from typing import Any

import optuna

from ablation.analysis.metrics import METRICS
from ablation.analysis.records import COMPRESSED, EpochRecord, Metrics
from ablation.config.trainconfig import TrainConfig, writes_artifact
from ablation.engine.options import (
    FitFn,
    Progress,
    RunOptions,
    RunSummary,
    Silent,
    placement_keywords,
)
from ablation.engine.storage import db
from ablation.engine.storage.artifact_store import checkpoint_for
from ablation.engine.storage.store import Store, open_store
from ablation.engine.trials.environment import environment, planned_precision
from ablation.engine.trials.failures import (
    CONFIGURATION,
    MAX_ATTEMPTS,
    Diverged,
    MissingMetric,
    classify,
    disk_full,
    give_up,
    reason,
    release,
    retry_later,
    short_traceback,
    stops_the_worker,
)
from ablation.engine.trials.heartbeat import Heartbeat
from ablation.engine.trials.reaper import LOST, fail_stale_trials, reap
from ablation.engine.trials.recording import record_compression, record_result
from ablation.engine.trials.register import register
from ablation.engine.trials.trial_writes import write_attrs, write_epoch
from ablation.errors import UserError
from ablation.sampling.samplers import PointSampler, distributions, sampler_record
from ablation.spec.space import Point
from ablation.spec.study import StudySpec
from ablation.training.resume import SafeCheckpoint


def point_from_row(row: db.PointRow) -> Point:
    """A stored point as the engine runs it (older studies stored the seed among the params)."""
    params = {k: v for k, v in row.params.items() if k != "seed"}
    return Point(row.key, row.ordinal, row.axis, row.label, row.seed, params,
                 TrainConfig(**row.config), row.is_baseline)


class Worker:
    """One worker of one study: the spec, where and how it runs, its store, study and trainer."""

    retries_points = True  # a failed machine is retried; a search samples afresh instead

    def __init__(self, spec: StudySpec, options: RunOptions, store: Store, study: optuna.Study,
                 trainer: FitFn, progress: Progress | None = None) -> None:
        self.spec, self.options, self.store, self.study = spec, options, store, study
        self.trainer = trainer
        self.placement = placement_keywords(trainer, spec.device, spec.deterministic)
        self.progress = progress or Silent()
        self.name = spec.storage_name
        self.tag = options.worker or f"{socket.gethostname()}:{os.getpid()}"
        self.epoch_metric = METRICS.get(spec.metric).epoch

    def run(self) -> int:
        """Claim and run points until none is left; returns how many trials this worker ran.

        When nothing is claimable but other workers still run points, wait: if one of them dies,
        its point goes stale after the grace period and is taken over here, so nothing is lost.
        """
        env = environment(self.options.threads or _torch_threads(), self.spec.device,
                          self.spec.deterministic) | {"sampler": sampler_record(self.spec)}
        grace = self.options.grace_seconds
        poll = max(0.5, min(2.0, grace / 4))  # one cheap SELECT per poll
        ran, said_waiting = 0, False
        reap(self.store, self.study, self.name)  # trials and points of dead workers
        while self.options.max_trials is None or ran < self.options.max_trials:
            fail_stale_trials(self.study)
            stale = db.now() - dt.timedelta(seconds=grace)
            row = db.claim_point(self.store.engine, self.name, self.tag, stale, MAX_ATTEMPTS)
            if row is None:
                reap(self.store, self.study, self.name)  # again before waiting on others
                running = sum(r.state == "running"
                              for r in db.list_points(self.store.engine, self.name))
                if running == 0:
                    break
                if not said_waiting:
                    self.progress.waiting(running, grace)
                said_waiting = True
                time.sleep(poll)
                continue
            said_waiting = False
            try:
                if row.trial_number is not None:  # the trial that ran it before died/failed
                    self._fail_dead_trial(row.trial_number)
            except KeyboardInterrupt:  # claimed but not started: give the point back
                release(self.store.engine, row.id, row.trial_number)
                raise
            self.run_point(point_from_row(row), row.id, env, row.trial_number)
            ran += 1
        return ran

    def _fail_dead_trial(self, number: int) -> None:
        """Mark the trial of a taken-over point FAIL if it is still RUNNING (its worker died).

        Usually fail_stale_trials has done so already; this covers the moment between the point's
        heartbeat and the trial's heartbeat going stale.
        """
        for t in self.study.get_trials(deepcopy=False,
                                       states=(optuna.trial.TrialState.RUNNING,)):
            if t.number == number:
                # Another worker may have failed it first.
                with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                    self.store.optuna.set_trial_user_attr(t._trial_id, "failure", LOST)
                    self.store.optuna.set_trial_state_values(t._trial_id,
                                                             optuna.trial.TrialState.FAIL)

    def _ask(self, point: Point, retry_of: int | None) -> optuna.Trial:
        sampler = self.study.sampler
        assert isinstance(sampler, PointSampler)
        sampler.values = point.params
        return self.study.ask(distributions(self.spec, point.params))

    def run_point(self, point: Point, point_id: int, env: dict[str, Any],
                  retry_of: int | None = None) -> None:
        """Train one claimed point as one Optuna trial and record its outcome."""
        try:
            trial = self._ask(point, retry_of)
        except KeyboardInterrupt:  # claimed but not started: give the point back
            release(self.store.engine, point_id, retry_of)
            raise
        self.run_trial(trial, point, point_id, env, retry_of)

    def run_trial(self, trial: optuna.Trial, point: Point, point_id: int, env: dict[str, Any],
                  retry_of: int | None = None) -> None:
        """Train ``point`` as the asked ``trial`` (a grid point's, or a sampled search's).

        Whatever happens after the trial is created ends it (COMPLETE, PRUNED or FAIL with a
        reason): a failure of the configuration fails the point for good, one of the machine is
        retried, and Ctrl-C, SIGTERM and user-fixable trouble give the point back and stop here.
        """
        ckpt = SafeCheckpoint(checkpoint_for(self.options.artifacts_dir, self.name, point.key))
        try:
            self._start(trial, point, point_id, env, retry_of)
            # Recording and compression (which may fine-tune for epochs) stay under the
            # heartbeat, so no other worker takes the point over meanwhile, and a failure there
            # fails the trial here instead of leaving it RUNNING until stale detection.
            values: dict[str, Any] = {}
            with Heartbeat(self.store, trial._trial_id, point_id):
                values, metrics = self._fit_and_record(trial, point, ckpt)
                self.study.tell(trial, self._objectives(values))
        except optuna.TrialPruned:
            self._note_resume(trial, ckpt)
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            db.set_point(self.store.engine, point_id, "done", trial.number)
            ckpt.delete()
            self.progress.trial_end(point, None, "pruned")
            return
        except BaseException as exc:
            if finished_elsewhere(exc):  # paused past the grace period: another worker has it
                self.progress.trial_end(point, None, TAKEN_OVER)
                return
            self._fail(trial, point_id, ckpt, exc)
            full = disk_full(exc)
            if full is not None:
                raise full from None
            if stops_the_worker(exc):
                raise
            self.progress.trial_end(point, None, f"failed: {reason(exc)}")
            return
        db.set_point(self.store.engine, point_id, "done", trial.number)
        db.finish_run(self.store.engine, self.name, trial.number)
        ckpt.delete()
        self.progress.trial_end(point, metrics, compressed_state(values, metrics))

    def _start(self, trial: optuna.Trial, point: Point, point_id: int, env: dict[str, Any],
               retry_of: int | None) -> None:
        # Recorded first, so a worker taking the point over after a crash can fail this trial.
        db.set_point(self.store.engine, point_id, "running", trial.number)
        attrs = {"axis": point.axis, "label": point.label, "seed": point.seed,
                 "point_key": point.key, "is_baseline": point.is_baseline}
        write_attrs(self.store, trial, attrs if retry_of is None
                    else {**attrs, "retry_of": retry_of})
        db.start_run(self.store.engine, self.name, trial.number, point.key, point.seed,
                     point.config.describe(),
                     {**env, "precision": planned_precision(point.config.precision, env)})
        self.progress.trial_start(point, trial.number)

    def _objectives(self, values: dict[str, Any]) -> list[float]:
        """The study's objective values of a finished trial (its metric, or each of its
        objectives): present and finite, else the trial fails as a configuration failure."""
        out = []
        for name in self.spec.objectives or (self.spec.metric,):
            if name not in values:
                raise MissingMetric(f"the study metric {name!r} was not recorded "
                                    f"(recorded: {', '.join(sorted(values)) or 'none'})")
            value = float(values[name])
            if not math.isfinite(value):
                raise Diverged(f"the study metric {name} is {value} (training diverged?)")
            out.append(value)
        return out

    def _fit_and_record(self, trial: optuna.Trial, point: Point,
                        ckpt: SafeCheckpoint) -> tuple[dict[str, Any], Metrics]:
        def on_epoch(record: EpochRecord) -> None:
            if not math.isfinite(record.train_loss):
                raise Diverged(f"training loss is {record.train_loss} at epoch {record.epoch} "
                               "(learning rate too high?)")
            # Optuna prunes on one reported value: a multi-objective study reports none.
            metric = None if self.spec.objectives else self.epoch_metric
            write_epoch(self.store, trial, db.EPOCHS,
                        {"study": self.name, "trial_number": trial.number,
                         **dataclasses.asdict(record)},
                        record.epoch, None if metric is None else getattr(record, metric))
            self.progress.epoch(record, point.config.epochs)
            if metric is not None and trial.should_prune():
                raise optuna.TrialPruned()

        result = self.trainer(point.config, point.seed, data_dir=self.options.data_dir,
                              on_epoch=on_epoch, checkpoint=ckpt, **self.placement)
        self._note_resume(trial, ckpt)
        values: dict[str, Any] = record_result(trial, result, self.options.artifacts_dir,
                                               self.store)
        if writes_artifact(point.config):
            values.update(record_compression(trial, result, point, self.options.data_dir,
                                             self.options.artifacts_dir, self.store))
        return values, result.metrics

    def _fail(self, trial: optuna.Trial, point_id: int, ckpt: SafeCheckpoint,
              exc: BaseException) -> None:
        """End the trial as FAIL with its reason, and decide its point's fate
        (engine/trials/failures.py). If even that cannot be written (the database is gone), the
        trial is left to the reaper of the next worker, and the original error goes on."""
        interrupted = isinstance(exc, KeyboardInterrupt)
        kind = classify(exc)
        engine = self.store.engine
        try:
            self._note_resume(trial, ckpt)
            trial.set_user_attr("failure", "interrupted" if interrupted else reason(exc))
            if not interrupted and not isinstance(exc, UserError):
                trial.set_user_attr("failure_kind", kind)
                trial.set_user_attr("failure_traceback", short_traceback(exc))
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            if interrupted or isinstance(exc, UserError | SystemExit) or disk_full(exc):
                release(engine, point_id, trial.number)
            elif kind == CONFIGURATION or not self.retries_points:
                give_up(engine, point_id, trial.number)
            else:
                retry_later(engine, point_id, trial.number)
        except Exception:  # noqa: BLE001 - the database failed too: keep the first error
            if not stops_the_worker(exc):
                raise

    @staticmethod
    def _note_resume(trial: optuna.Trial, ckpt: SafeCheckpoint) -> None:
        if ckpt.resumed_from is not None:
            trial.set_user_attr("resumed_from_epoch", ckpt.resumed_from)


def compressed_state(values: dict[str, Any], metrics: Metrics) -> str:
    """"complete", or for a compressed trial the figures of its stored artifact (what the study
    compares), with the accuracy before compression beside them."""
    if "artifact_test_accuracy" not in values:
        return "complete"
    size = float(values.get("artifact_bytes", 0)) / 1e6
    return (f"{COMPRESSED}test acc {100 * float(values['artifact_test_accuracy']):.2f}%  "
            f"{size:.2f} MB  (before compression {100 * metrics.test_accuracy:.2f}%)")


TAKEN_OVER = ("taken over: this worker stopped beating past the grace period (paused or "
              "stalled) and another worker runs the point; this result is dropped")


def finished_elsewhere(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it arose from) says the trial was already finished: another
    worker failed it as stale and took its point over while this one was not running."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, optuna.exceptions.UpdateFinishedTrialError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _torch_threads() -> int:
    import torch  # here, not at the top: a worker whose trainer needs no torch never loads it

    return torch.get_num_threads()


def count_done(store: Store, name: str, keys: set[str]) -> int:
    """How many of the points with ``keys`` are done."""
    return sum(r.state == "done" for r in db.list_points(store.engine, name)
               if r.key in keys)


def run_study(spec: StudySpec, options: RunOptions, fit_fn: FitFn,
              progress: Progress | None = None, store: Store | None = None) -> RunSummary:
    """Run every point of ``spec`` not yet done; re-running a finished study runs nothing.

    A sampled search (``spec.is_search``) runs its remaining trial budget instead.
    """
    if spec.is_search:
        from ablation.engine.trials.search import run_search

        return run_search(spec, options, fit_fn, progress, store)
    shown = progress or Silent()
    store = store or open_store(options.storage_url, grace_seconds=options.grace_seconds)
    study, _ = register(spec, options, store)
    if options.threads:
        import torch

        torch.set_num_threads(options.threads)
    # Counted over the stored points: a round of --until-resolved (or an earlier, larger
    # --seeds) stores points beyond spec.seeds, and this worker runs those too.
    rows = db.list_points(store.engine, spec.storage_name)
    done_before = sum(r.state == "done" for r in rows)
    seeds = tuple(sorted({r.seed for r in rows}))
    shown.study_start(dataclasses.replace(spec, seeds=seeds), len(rows), len(rows) - done_before)
    ran = Worker(spec, options, store, study, fit_fn, shown).run()
    done = sum(r.state == "done" for r in db.list_points(store.engine, spec.storage_name))
    return RunSummary(spec.storage_name, len(rows), ran, done_before, len(rows) - done)
