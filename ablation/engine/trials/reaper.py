"""No trial stays RUNNING after its process died.

A worker can die at any instant: between creating its Optuna trial and recording which point it
runs (then no heartbeat names the trial), while training (its heartbeats stop), or after its
point used up its attempts. Every worker, before it claims a point, looks for RUNNING trials of
its study that no live heartbeat holds and fails them with a reason, and fails for good the
stale points that have no attempt left, so nothing waits on a dead process forever.
"""

from __future__ import annotations

import contextlib
import datetime as dt

import optuna
import sqlalchemy as sa
from optuna.storages._heartbeat import BaseHeartbeat

from ablation.engine.storage import db
from ablation.engine.storage.store import Store
from ablation.engine.trials.failures import MAX_ATTEMPTS

RUNNING = optuna.trial.TrialState.RUNNING
LOST = "worker lost: its heartbeat stopped (killed, out of memory, or its machine went down)"


def _live_trials(store: Store, name: str, stale_before: dt.datetime) -> set[int]:
    """Trial numbers whose point is running with a fresh heartbeat."""
    p = db.POINTS
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(p.c.trial_number, p.c.heartbeat)
                            .where(p.c.study == name, p.c.state == "running"))
        return {r.trial_number for r in rows
                if r.trial_number is not None and r.heartbeat is not None
                and r.heartbeat >= stale_before}


def reap(store: Store, study: optuna.Study, name: str) -> list[int]:
    """Fail the dead RUNNING trials of ``study``; returns their numbers.

    A trial younger than the grace period is left alone: its worker may be about to record it.
    """
    grace = dt.timedelta(seconds=store.grace_seconds)
    alive = _live_trials(store, name, db.now() - grace)
    young = dt.datetime.now() - grace  # Optuna stamps datetime_start with the local clock
    reaped = []
    for t in study.get_trials(deepcopy=False, states=(RUNNING,)):
        if t.number in alive or (t.datetime_start is not None and t.datetime_start > young):
            continue
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            store.optuna.set_trial_user_attr(t._trial_id, "failure", LOST)
            store.optuna.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
            reaped.append(t.number)
    expire_stale(store, name, db.now() - grace)
    return reaped


def fail_stale_trials(study: optuna.Study) -> list[int]:
    """Optuna's ``fail_stale_trials`` that also says why: each trial whose heartbeat went stale
    gets the reason LOST before it is failed (Optuna's own leaves the failure unexplained)."""
    storage = study._storage
    if not isinstance(storage, BaseHeartbeat) or storage.get_heartbeat_interval() is None:
        return []
    failed = []
    for trial_id in storage._get_stale_trial_ids(study._study_id):
        # Another worker may fail it first: then its reason is already there.
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            storage.set_trial_user_attr(trial_id, "failure", LOST)
            if storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL):
                failed.append(trial_id)
    return failed


def expire_stale(store: Store, name: str, stale_before: dt.datetime) -> int:
    """Stale running points with no attempt left are failed for good instead of retried."""
    p = db.POINTS
    with store.engine.begin() as conn:
        done = conn.execute(p.update().where(
            p.c.study == name, p.c.state == "running", p.c.heartbeat < stale_before,
            p.c.attempts >= MAX_ATTEMPTS).values(state="failed"))
        return int(done.rowcount or 0)
