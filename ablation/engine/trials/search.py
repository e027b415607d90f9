"""A sampled search: Optuna's sampler picks each configuration, the engine trains it as one trial.

The grid engine claims fixed points from ``ablate_points``; a search has no fixed points. Each
trial is asked from Optuna (the study's sampler draws the searched axes), trained once on the
study's search seed with the same Worker machinery as a grid point (heartbeat, checkpoint,
per-epoch reports to the pruner, recording), then told. ``study.n_trials`` is one budget for the
study across processes and re-runs: the trials that count are the finished (complete or pruned)
and running ones in storage, so a re-run of a finished search runs nothing and an interrupted one
runs only what is left. A failed trial (an error, or a dead worker's trial failed by Optuna once
its heartbeat is stale) does not count, and its budget is run again.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import replace
from typing import Any

import optuna
from optuna.trial import TrialState

from ablation.analysis.records import SEARCH_AXIS
from ablation.engine.options import FitFn, Progress, RunOptions, RunSummary, Silent
from ablation.engine.storage import db
from ablation.engine.storage.artifact_store import checkpoint_for
from ablation.engine.storage.store import Store, open_store
from ablation.engine.trials.environment import environment
from ablation.engine.trials.failures import MAX_ATTEMPTS, TrialsFailed
from ablation.engine.trials.reaper import fail_stale_trials
from ablation.engine.trials.register import register
from ablation.engine.trials.worker import Worker
from ablation.sampling.samplers import sampler_record, search_space
from ablation.spec.search_keys import confirm_label
from ablation.spec.space import Point, point_key
from ablation.spec.study import StudySpec
from ablation.spec.train_checks import make_train_config

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def count_trials(study: optuna.Study, states: tuple[TrialState, ...] = COUNTED,
                 below: int | None = None) -> int:
    """Trials of ``study`` in ``states`` (numbered below ``below``, when given)."""
    return sum(below is None or t.number < below
               for t in study.get_trials(deepcopy=False, states=states))


def search_point(spec: StudySpec, number: int, params: dict[str, Any]) -> Point:
    """Search trial ``number`` as a point: the baseline with the sampled values, on the search
    seed. Its key carries the trial number: two trials may draw one configuration, and each
    needs its own checkpoint file."""
    config = make_train_config(params, f"{spec.source}: search trial {number}", spec.baseline)
    key = f"{point_key(config, spec.search_seed)}-{number}"
    return Point(key, number, SEARCH_AXIS, confirm_label(params), spec.search_seed,
                 dict(params), config, False)


class SearchWorker(Worker):
    """A worker of a sampled search: asks, trains and tells until the budget is used."""

    retries_points = False  # a failed search trial frees its budget: the next one samples anew

    def run(self) -> int:
        """Run trials until the study's budget is used; returns how many this worker ran.

        Once the budget is taken but other workers still run trials, wait: if one of them dies,
        Optuna fails its stale trial and this worker runs the budget it frees.
        """
        import torch

        env = environment(self.options.threads or torch.get_num_threads(), self.spec.device,
                          self.spec.deterministic) | {"sampler": sampler_record(self.spec)}
        space = search_space(self.spec)
        poll = max(0.5, min(2.0, self.options.grace_seconds / 4))
        ran, said_waiting, failed_in_a_row = 0, False, 0
        while self.options.max_trials is None or ran < self.options.max_trials:
            fail_stale_trials(self.study)
            if count_trials(self.study) >= self.spec.n_trials:
                running = count_trials(self.study, (TrialState.RUNNING,))
                if running == 0:
                    break
                if not said_waiting:
                    self.progress.waiting(running, self.options.grace_seconds)
                said_waiting = True
                time.sleep(poll)
                continue
            said_waiting = False
            trial = self.study.ask(space)
            if count_trials(self.study, below=trial.number) >= self.spec.n_trials:
                self._give_back(trial)  # another worker took the last of the budget first
                continue
            self._run_sampled(trial, env)
            ran += 1
            failure = self._failure(trial)
            failed_in_a_row = failed_in_a_row + 1 if failure is not None else 0
            if failed_in_a_row >= MAX_ATTEMPTS:
                # Every trial failing is the trainer's or the study's fault, not the sample's:
                # stop instead of sampling the freed budget for ever.
                raise TrialsFailed(f"study {self.spec.name!r}: the last {failed_in_a_row} "
                                   f"sampled trials failed (last: trial {trial.number}, "
                                   f"{failure}); see `ablate show {self.spec.name}`")
        return ran

    def _failure(self, trial: optuna.Trial) -> str | None:
        """Why ``trial`` failed, or None where it did not."""
        stored = self.study._storage.get_trial(trial._trial_id)
        if stored.state != TrialState.FAIL:
            return None
        return str(stored.user_attrs.get("failure", "no reason recorded"))

    def _give_back(self, trial: optuna.Trial) -> None:
        trial.set_user_attr("not_run", "over the trial budget (another worker took it)")
        self.study.tell(trial, state=TrialState.FAIL)

    def _run_sampled(self, trial: optuna.Trial, env: dict[str, Any]) -> None:
        try:
            point = search_point(self.spec, trial.number, trial.params)
            for key, value in (("axis", point.axis), ("label", point.label),
                               ("seed", point.seed), ("point_key", point.key),
                               ("is_baseline", False)):
                trial.set_user_attr(key, value)
            point_id = db.add_running_point(self.store.engine, self.name, point.as_row(),
                                            self.tag)
        except BaseException as exc:
            # Not started yet, so no heartbeat would ever fail it: a trial left RUNNING would
            # hold its share of the budget for good.
            trial.set_user_attr("failure", repr(exc)[:500])
            self.study.tell(trial, state=TrialState.FAIL)
            raise
        try:
            self.run_trial(trial, point, point_id, env)
        except BaseException:
            # A search trial is never resumed (the next trial samples afresh): its point is
            # closed and its checkpoint dropped.
            db.set_point(self.store.engine, point_id, "failed")
            with contextlib.suppress(OSError):
                checkpoint_for(self.options.artifacts_dir, self.name, point.key).delete()
            raise


def run_search(spec: StudySpec, options: RunOptions, fit_fn: FitFn,
               progress: Progress | None = None, store: Store | None = None) -> RunSummary:
    """Run what is left of ``spec``'s trial budget in this process."""
    shown = progress or Silent()
    store = store or open_store(options.storage_url, grace_seconds=options.grace_seconds)
    study, _ = register(spec, options, store)
    if options.threads:
        import torch

        torch.set_num_threads(options.threads)
    before = count_trials(study, FINISHED)
    # Shown as what it is: n_trials trials on the one search seed.
    shown.study_start(replace(spec, seeds=(spec.search_seed,)), spec.n_trials,
                      max(0, spec.n_trials - before))
    ran = SearchWorker(spec, options, store, study, fit_fn, shown).run()
    return search_run_summary(study, spec, before, ran)


def search_run_summary(study: optuna.Study, spec: StudySpec, before: int,
                       ran: int) -> RunSummary:
    """What a search run did: trials are counted against the budget, not against points."""
    finished = count_trials(study, FINISHED)
    return RunSummary(spec.storage_name, spec.n_trials, ran, min(before, spec.n_trials),
                      max(0, spec.n_trials - finished))
