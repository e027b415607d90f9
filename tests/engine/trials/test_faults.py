"""Faults: SIGTERM to a real process, failures that must not be retried forever, checkpoints
that do not fit. Every point ends exactly once, and nothing waits for a dead process.

Workers train with fakes named by --trainer (tests/fakes.py) and log each training they start
to ABLATE_FAKE_LOG, so a point trained more often than allowed shows up whatever the database
says. A signal needs a process of its own; the runs that need none (re-runs, failing trainers)
go through click's runner in this process (tests.fakes._invoke), with the same arguments.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import optuna
import pytest

from ablation.engine.storage import db
from ablation.engine.storage.store import open_store
from ablation.engine.trials.failures import MAX_ATTEMPTS
from ablation.spec.files import load_study
from ablation.spec.space import grid_points
from tests.fakes import GRID, _ablate, _env, _finish, _invoke, _trained, wait_for_training

ONE_SEED = GRID.replace("seeds = 3", "seeds = 1")  # 4 points: nadam (baseline), sgd, adam, rmsprop


def _study(tmp_path: Path, epochs: int = 2, text: str = ONE_SEED) -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(text.format(epochs=epochs))
    return path


def _state(url: str) -> tuple[list, list]:
    store = open_store(url)
    trials = optuna.load_study(study_name="grid", storage=store.optuna).get_trials()
    return trials, db.list_points(store.engine, "grid")


def _each_point_once(url: str, study: Path) -> None:
    trials, points = _state(url)
    keys = {p.key for p in grid_points(load_study(str(study)))}
    assert all(p.state == "done" for p in points) and {p.key for p in points} == keys
    complete = sorted(t.user_attrs["point_key"] for t in trials if t.state.name == "COMPLETE")
    assert complete == sorted(keys)  # one COMPLETE trial per point
    assert not [t for t in trials if t.state.name == "RUNNING"]


@pytest.mark.parametrize("command", ["worker", "run --workers 2"])
def test_sigterm_mid_trial_stops_at_once_and_a_rerun_does_each_point_once(tmp_path, command):
    study, url = _study(tmp_path), f"sqlite:///{tmp_path / 'grid.db'}"
    env = _env(tmp_path, "sleep:1.5")
    args = [*command.split(), str(study), "--storage", url]
    proc = _ablate(*args, env=env)  # default grace: 60 s, which nothing below may wait for
    wait_for_training(proc, tmp_path)
    time.sleep(0.5)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)  # what timeout/systemd/docker send: to the parent only
    code, out = _finish(proc, timeout=60)
    assert code == 143 and time.monotonic() - t0 < 30, out
    assert "terminated" in out and "Traceback" not in out, out
    trials, points = _state(url)
    assert not [t for t in trials if t.state.name == "RUNNING"]
    assert {t.user_attrs.get("failure") for t in trials if t.state.name == "FAIL"} == \
        {"interrupted"}
    assert not [p for p in points if p.state == "running"]
    assert all(p.attempts == 0 for p in points if p.state == "pending")  # no attempt used up
    env["ABLATE_FAKE_PAUSE"] = "0"
    t1 = time.monotonic()
    code, out = _invoke(*args[:1], *args[-3:], env=env)  # one process finishes it
    assert code == 0 and ("0 left of 4" in out or "0 of 4 not done" in out), out
    assert time.monotonic() - t1 < 50  # the interrupted point was not left for the grace period
    _each_point_once(url, study)


def test_a_configuration_failure_is_not_retried_and_is_reported(tmp_path):
    study, url = _study(tmp_path, epochs=1), f"sqlite:///{tmp_path / 'grid.db'}"
    env = _env(tmp_path, "failing:0")
    args = ("run", str(study), "--storage", url)
    sgd = next(p.key for p in grid_points(load_study(str(study))) if p.config.optimizer == "sgd")
    code, out = _invoke(*args, env=env)
    assert code == 1, out
    assert "1 trial(s) failed for good" in out and "fake: this configuration cannot" in out
    assert "3 trial(s) run now, 0 done before, 1 left of 4" in out  # done now + left = all
    assert _trained(tmp_path)[sgd] == 1 and "Traceback" not in out
    code, out = _invoke(*args, env=env)  # a later run: says so, trains nothing
    assert code == 1 and "0 trial(s) run now" in out and "failed for good" in out, out
    assert _trained(tmp_path)[sgd] == 1
    code, out = _invoke("show", "grid", "--storage", url, env=env)
    assert code == 0 and "failed:" in out and "ValueError: fake" in out, out
    code, out = _invoke(*args, "--retry-failed", env=env)
    assert code == 1 and _trained(tmp_path)[sgd] == 2, out  # once more, on request only
    trials, points = _state(url)
    failed = [p for p in points if p.state == "failed"]
    assert [p.key for p in failed] == [sgd] and failed[0].attempts == MAX_ATTEMPTS
    assert sum(t.state.name == "COMPLETE" for t in trials) == 3


def test_an_infrastructure_failure_is_retried_up_to_the_cap(tmp_path):
    study, url = _study(tmp_path, epochs=1), f"sqlite:///{tmp_path / 'grid.db'}"
    env = {**_env(tmp_path, "failing:0"), "ABLATE_FAKE_FAIL": "memory"}
    args = ("run", str(study), "--storage", url)
    sgd = next(p.key for p in grid_points(load_study(str(study))) if p.config.optimizer == "sgd")
    code, out = _invoke(*args, env=env)
    assert code == 1 and "MemoryError: fake: out of memory" in out, out
    assert _trained(tmp_path)[sgd] == MAX_ATTEMPTS
    code, out = _invoke(*args, env=env)
    assert code == 1 and _trained(tmp_path)[sgd] == MAX_ATTEMPTS, out
    trials, _ = _state(url)
    kinds = [t.user_attrs.get("failure_kind") for t in trials if t.state.name == "FAIL"]
    assert kinds == ["infrastructure"] * MAX_ATTEMPTS


def test_a_foreign_checkpoint_is_discarded_and_the_point_completes(tmp_path):
    from ablation.config.trainconfig import TrainConfig
    from ablation.training.checkpoint import EpochCheckpoint, checkpoint_path
    from ablation.training.fit import fit

    study = _study(tmp_path, epochs=1, text=ONE_SEED.replace(
        '"sgd", "adam", "nadam", "rmsprop"', '"nadam"'))
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    point = grid_points(load_study(str(study)))[0]
    path = checkpoint_path(tmp_path / "artifacts", "grid", point.key)
    other = TrainConfig(**{**point.config.describe(), "width": 8, "epochs": 2})
    fit(other, 0, data_dir=tmp_path, checkpoint=EpochCheckpoint(path))  # another width's file
    assert path.is_file()
    code, out = _invoke("worker", str(study), "--storage", url, env=_env(tmp_path, "slow:0"))
    assert code == 0 and "Traceback" not in out, out
    warnings = [line for line in out.splitlines() if "discarded" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: checkpoint "), out
    trials, points = _state(url)
    assert [t.state.name for t in trials] == ["COMPLETE"] and points[0].state == "done"
    assert "resumed_from_epoch" not in trials[0].user_attrs
    assert not path.exists()
