"""Nothing stuck, in one process: orphaned trials are reaped, stale points stop at their cap,
diverging trainings fail for good, and an unusable checkpoint never half-restores a run."""

from __future__ import annotations

import datetime as dt
import time

import optuna
import pytest
import sqlalchemy as sa
import torch

from ablation.engine.options import RunOptions
from ablation.engine.storage import db
from ablation.engine.storage.store import open_store
from ablation.engine.trials.failures import (
    CONFIGURATION,
    INFRASTRUCTURE,
    MAX_ATTEMPTS,
    classify,
    failed_for_good,
)
from ablation.engine.trials.reaper import LOST
from ablation.engine.trials.worker import run_study
from ablation.errors import UserError
from ablation.training.checkpoint import EpochCheckpoint
from ablation.training.fit import fit
from ablation.training.resume import SafeCheckpoint
from tests.fakes import FakeFit, failing_fit, make_spec


def _options(url: str, tmp_path, grace: int = 60) -> RunOptions:
    return RunOptions(url, tmp_path / "artifacts", tmp_path, grace_seconds=grace)


def test_a_trial_orphaned_between_ask_and_record_is_reaped(storage_url, tmp_path):
    spec = make_spec(seeds=1)
    run_study(spec, _options(storage_url, tmp_path, grace=2), FakeFit(), )
    store = open_store(storage_url, grace_seconds=2)
    study = optuna.load_study(study_name="opt", storage=store.optuna)
    orphan = study.ask()  # as if SIGKILLed right after creating its trial: no point names it
    time.sleep(2.5)  # older than the grace period
    run_study(spec, _options(storage_url, tmp_path, grace=2), FakeFit(), store=store)
    trial = study.get_trials()[orphan.number]
    assert trial.state.name == "FAIL" and trial.user_attrs["failure"] == LOST


def test_a_young_running_trial_is_left_to_its_worker(storage_url, tmp_path):
    spec = make_spec(seeds=1)
    run_study(spec, _options(storage_url, tmp_path), FakeFit())
    store = open_store(storage_url)
    study = optuna.load_study(study_name="opt", storage=store.optuna)
    young = study.ask()  # its worker may be recording it right now
    run_study(spec, _options(storage_url, tmp_path), FakeFit(), store=store)
    assert study.get_trials()[young.number].state.name == "RUNNING"


def test_a_stale_point_without_attempts_left_is_failed_not_waited_for(storage_url, tmp_path):
    spec = make_spec(seeds=1)
    run_study(spec, _options(storage_url, tmp_path, grace=2), FakeFit(), )
    store = open_store(storage_url, grace_seconds=2)
    first = db.list_points(store.engine, "opt")[0]
    old = db.now() - dt.timedelta(minutes=5)
    with store.engine.begin() as conn:  # its third worker died: stale, and no attempt left
        conn.execute(db.POINTS.update().where(db.POINTS.c.id == first.id).values(
            state="running", attempts=MAX_ATTEMPTS, heartbeat=old))
    fit_fn = FakeFit()
    t0 = time.monotonic()
    summary = run_study(spec, _options(storage_url, tmp_path, grace=2), fit_fn, store=store)
    assert time.monotonic() - t0 < 20 and fit_fn.calls == [] and summary.remaining == 1
    assert db.list_points(store.engine, "opt")[0].state == "failed"
    assert [f.label for f in failed_for_good(store.optuna, store.engine, "opt")] == [first.label]


@pytest.mark.parametrize("how, reason", [("nan", "Diverged: training loss is nan"),
                                         ("value", "ValueError: fake")])
def test_a_configuration_failure_fails_its_point_for_good(storage_url, tmp_path, monkeypatch,
                                                          how, reason):
    monkeypatch.setenv("ABLATE_FAKE_FAIL", how)
    spec = make_spec(seeds=1)
    summary = run_study(spec, _options(storage_url, tmp_path), failing_fit)
    assert summary.ran == 3 and summary.remaining == 1  # the others still ran
    store = open_store(storage_url)
    failed = failed_for_good(store.optuna, store.engine, "opt")
    assert len(failed) == 1 and failed[0].reason.startswith(reason) and failed[0].attempts == 3
    assert run_study(spec, _options(storage_url, tmp_path), failing_fit).ran == 0


def test_a_non_finite_study_metric_fails_the_trial(storage_url, tmp_path):
    def nan_metric(config, seed, **kw):
        result = FakeFit()(config, seed, **kw)
        import dataclasses

        result.metrics = dataclasses.replace(result.metrics, val_accuracy=float("nan"))
        return result

    run_study(make_spec(seeds=1), _options(storage_url, tmp_path), nan_metric)
    trials = optuna.load_study(study_name="opt", storage=storage_url).get_trials()
    assert {t.state.name for t in trials} == {"FAIL"}
    assert all("Diverged: the study metric val_accuracy is nan" in t.user_attrs["failure"]
               for t in trials)


def test_failures_are_classified():
    assert classify(MemoryError()) == INFRASTRUCTURE
    assert classify(RuntimeError("CUDA out of memory. Tried to allocate")) == INFRASTRUCTURE
    assert classify(OSError(28, "No space left on device")) == INFRASTRUCTURE
    assert classify(sa.exc.OperationalError("x", {}, Exception("gone"))) == INFRASTRUCTURE
    assert classify(RuntimeError("size mismatch for conv.weight")) == CONFIGURATION
    assert classify(ValueError("bad")) == CONFIGURATION
    assert classify(KeyError("val_accuracy")) == CONFIGURATION
    assert classify(UserError("disk full")) == CONFIGURATION  # but it stops the run: see worker


@pytest.mark.parametrize("damage", ["another-width", "missing-keys", "garbage", "truncated"])
def test_an_unusable_checkpoint_is_discarded_and_the_run_is_a_fresh_one(tiny_config, tmp_path,
                                                                       damage):
    from dataclasses import replace

    path = tmp_path / "ckpt.pt"
    if damage == "garbage":
        path.write_bytes(b"not a checkpoint" * 100)
    else:
        width = tiny_config.width if damage == "missing-keys" else 8
        fit(replace(tiny_config, width=width, epochs=2), 0, data_dir=tmp_path,
            checkpoint=EpochCheckpoint(path))
        if damage == "truncated":
            path.write_bytes(path.read_bytes()[:5000])
        if damage == "missing-keys":  # loads, right shapes, but not the whole model
            state = torch.load(path, weights_only=True)
            state["model"].pop(sorted(state["model"])[-1])
            torch.save(state, path)
    fresh = fit(tiny_config, 0, data_dir=tmp_path)
    with pytest.warns(UserWarning, match="discarded"):
        safe = SafeCheckpoint(EpochCheckpoint(path))
        resumed = fit(tiny_config, 0, data_dir=tmp_path, checkpoint=safe)
    assert safe.resumed_from is None
    for (k, a), b in zip(fresh.model.state_dict().items(), resumed.model.state_dict().values(),
                         strict=True):
        assert torch.equal(a, b), k  # not half-restored: exactly the run without a checkpoint
    assert path.exists()  # the run's own checkpoint replaced the discarded file
