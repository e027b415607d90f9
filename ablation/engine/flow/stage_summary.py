"""What a stage did, measured the same way whichever runner ran it: from the storage, before
and after (points of a grid, finished trials of a search)."""

from __future__ import annotations

import optuna

from ablation.engine.options import RunOptions, RunSummary
from ablation.engine.runners.choice import Runner
from ablation.engine.storage import db
from ablation.engine.storage.store import Store
from ablation.engine.trials.search import FINISHED, count_trials
from ablation.spec.study import StudySpec


def measure(store: Store, spec: StudySpec) -> tuple[int, int]:
    """(trials in all, trials done) of a stage: its stored points, or a search's budget and
    finished trials (0 done where nothing is stored yet)."""
    if spec.is_search:
        try:
            study = optuna.load_study(study_name=spec.storage_name, storage=store.optuna)
        except KeyError:
            return spec.n_trials, 0
        return spec.n_trials, min(spec.n_trials, count_trials(study, FINISHED))
    db.create_tables(store.engine)
    rows = db.list_points(store.engine, spec.storage_name)
    return len(rows), sum(r.state == "done" for r in rows)


def summary(store: Store, spec: StudySpec, done_before: int) -> RunSummary:
    """The stage's summary now, given what was done before it ran."""
    total, done = measure(store, spec)
    return RunSummary(spec.storage_name, total, done - done_before, done_before, total - done)


def run_stage(runner: Runner, store: Store, spec: StudySpec, options: RunOptions) -> RunSummary:
    """Run one stage on ``runner`` and say what it did."""
    _, before = measure(store, spec)
    runner(spec, options)
    return summary(store, spec, before)
