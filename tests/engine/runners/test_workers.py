"""Several real worker processes on one study: every point exactly once, crashes recovered.

Worker processes train with a fake named by --trainer (tests/fakes.py), and log every
training they start to ABLATE_FAKE_LOG, so a
point trained twice shows up even if the database were to hide it. The run under test is a real
process; a worker that joins it or finishes after it goes through click's runner in this
process (tests.fakes._invoke), which spares a second start-up of torch.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa

from ablation.engine.runners.local import threads_per_worker
from ablation.engine.storage import db
from ablation.engine.storage.store import open_store
from ablation.spec.files import load_study
from ablation.spec.space import grid_points
from tests.fakes import (
    GRID,
    _ablate,
    _env,
    _finish,
    _invoke,
    _trained,
    assert_exactly_once,
    wait_for_training,
)


def test_threads_per_worker_never_oversubscribes():
    assert threads_per_worker(1, available=2) == 2
    assert threads_per_worker(2, available=2) == 1
    assert threads_per_worker(3, available=2) == 1  # never 0
    assert threads_per_worker(4, available=16) == 4
    assert threads_per_worker(2, requested=3, available=2) == 3  # --threads overrides


@pytest.fixture
def grid_file(tmp_path: Path) -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(GRID.format(epochs=2))
    return path


def test_run_with_three_workers_on_sqlite_does_each_point_once(tmp_path, grid_file):
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    code, out = _finish(_ablate("run", str(grid_file), "--workers", "3", "--storage", url,
                                env=_env(tmp_path, "sleep:0.15")))
    assert code == 0, out
    assert "12 trial(s) run now, 0 done before, 0 left of 12" in out
    if Path("/proc/self/status").exists():  # each worker's measured memory is said (issue 21)
        assert "memory: each worker peaked at up to" in out and "3 together" in out
    assert "Traceback" not in out and "locked" not in out
    trials = assert_exactly_once(url, grid_file, tmp_path)
    assert len({t.user_attrs.get("seed") for t in trials}) == 3
    pids = {line.split()[0] for line in (tmp_path / "log").read_text().splitlines()}
    assert len(pids) >= 2  # the work really was shared between processes
    # Same numbers as the single-process path: sleep_fit is deterministic per (config, seed).
    from tests.fakes import sleep_fit

    spec = load_study(str(grid_file))
    want = {p.key: sleep_fit(p.config, p.seed, data_dir=tmp_path).metrics.val_accuracy
            for p in grid_points(spec)}
    assert {t.user_attrs["point_key"]: t.value for t in trials} == want


def test_postgres_run_with_two_workers_plus_a_joining_worker(tmp_path, grid_file, pg_url):
    env = _env(tmp_path, "sleep:0.4")
    art = str(tmp_path / "artifacts")
    first = _ablate("run", str(grid_file), "--workers", "2", "--storage", pg_url,
                    "--artifacts", art, env=env)
    wait_for_training(first, tmp_path)  # joins a run in progress, as from another machine
    code2, out2 = _invoke("worker", str(grid_file), "--storage", pg_url, "--artifacts", art,
                          env=env)
    code1, out1 = _finish(first)
    assert code1 == 0 and code2 == 0, out1 + out2
    assert "Traceback" not in out1 + out2
    assert_exactly_once(pg_url, grid_file, tmp_path)
    pids = {line.split()[0] for line in (tmp_path / "log").read_text().splitlines()}
    assert str(os.getpid()) in pids and len(pids) >= 2  # the joiner shared the work


def test_mysql_run_with_two_workers_does_each_point_once(tmp_path, grid_file, mysql_url):
    env = _env(tmp_path, "sleep:0.3")
    code, out = _finish(_ablate("run", str(grid_file), "--workers", "2", "--storage", mysql_url,
                                "--artifacts", str(tmp_path / "artifacts"), env=env))
    assert code == 0 and "Traceback" not in out, out
    assert_exactly_once(mysql_url, grid_file, tmp_path)
    assert len({line.split()[0] for line in (tmp_path / "log").read_text().splitlines()}) == 2


def _epochs_of_first_trial(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM ablate_epochs WHERE "
                                        "trial_number = 0")).scalar_one()
    except sa.exc.OperationalError:  # tables not created yet
        return 0
    finally:
        engine.dispose()


def test_sigkilled_worker_is_taken_over_and_resumes_from_its_checkpoint(tmp_path):
    study = tmp_path / "grid.toml"
    study.write_text(GRID.format(epochs=3).replace("seeds = 3", "seeds = 2")
                     .replace('"sgd", "adam", "nadam", "rmsprop"', '"nadam"'))
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    env = _env(tmp_path, "slow:0.7")  # the real trainer, pausing after every epoch
    args = ("worker", str(study), "--storage", url, "--heartbeat-grace", "3")
    victim = _ablate(*args, env=env)
    deadline = time.monotonic() + 90
    while _epochs_of_first_trial(url) < 1:
        assert victim.poll() is None and time.monotonic() < deadline, _finish(victim)[1]
        time.sleep(0.2)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    code, out = _invoke(*args, env={**env, "ABLATE_FAKE_PAUSE": "0"})  # the worker taking over
    assert code == 0, out
    trials = optuna.load_study(study_name="grid", storage=url).get_trials()
    dead = trials[0]
    assert dead.state.name == "FAIL"
    retry = next(t for t in trials if t.user_attrs.get("retry_of") == dead.number)
    assert retry.state.name == "COMPLETE"
    assert retry.user_attrs["point_key"] == dead.user_attrs["point_key"]
    assert retry.user_attrs["resumed_from_epoch"] >= 1  # not from epoch 0
    assert sorted(retry.intermediate_values) == [1, 2, 3]  # replayed + trained epochs
    complete = [t.user_attrs["point_key"] for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == len(set(complete)) == 2
    points = db.list_points(open_store(url).engine, "grid")
    assert all(p.state == "done" for p in points)
    assert not list((tmp_path / "artifacts" / "checkpoints").rglob("*.pt"))  # cleaned up


def test_ctrl_c_stops_all_workers_cleanly_and_a_rerun_finishes(tmp_path, grid_file):
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    env = _env(tmp_path, "sleep:1.5")
    proc = _ablate("run", str(grid_file), "--workers", "2", "--storage", url, env=env,
                   start_new_session=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "log").exists() or len(_trained(tmp_path)) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, _finish(proc)[1]
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C: the whole group
    code, out = _finish(proc)
    assert code == 130, out
    assert "run the same command again to resume" in out and "Traceback" not in out
    store = open_store(url)
    trials = optuna.load_study(study_name="grid", storage=store.optuna).get_trials()
    interrupted = [t for t in trials if t.user_attrs.get("failure") == "interrupted"]
    assert len(interrupted) >= 2 and not [t for t in trials if t.state.name == "RUNNING"]
    assert not [p for p in db.list_points(store.engine, "grid") if p.state == "running"]
    env["ABLATE_FAKE_PAUSE"] = "0"
    code, out = _invoke("run", str(grid_file), "--storage", url, env=env)
    assert code == 0 and "0 left of 12" in out, out
