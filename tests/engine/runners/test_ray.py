"""Workers as Ray tasks (``ablate run --ray``) on a real local Ray instance and PostgreSQL.

The same exactly-once checks as the local-process tests (tests/engine/runners/test_workers.py): one
COMPLETE trial per point and one training per point in a log the workers append to, whatever the
database says; and a Ray worker killed mid-trial is taken over and resumed from its checkpoint.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ablation.cli import main
from ablation.engine.runners.ray_launcher import RayPlan, capacity, worker_count
from ablation.engine.storage import db
from ablation.engine.storage.store import open_store
from ablation.errors import UserError
from tests.fakes import (
    GRID,
    ROOT,
    _ablate,
    _env,
    _finish,
    assert_exactly_once,
)

# Under pytest-xdist with --dist loadgroup (the README's test command) this file's tests run in
# one test process: one local Ray instance at a time.
pytestmark = pytest.mark.xdist_group("ray")

# CI installs .[test], which has Ray: there a missing Ray fails these tests instead of skipping.
needs_ray = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("ray") is None and os.environ.get("CI") != "true",
    reason="Ray is not installed (pip install -e '.[ray]')")


def test_capacity_counts_what_fits_of_cpus_and_gpus():
    cluster = {"CPU": 16.0, "GPU": 4.0}
    assert capacity(cluster, 1, 0) == 16
    assert capacity(cluster, 2, 1) == 4  # the GPUs run out first
    assert capacity(cluster, 1, 0.5) == 8  # two workers share each GPU
    assert capacity(cluster, 0, 0.25) == 16
    assert capacity({"CPU": 2.0}, 1, 1) == 0  # no GPU at all
    assert capacity({"CPU": 3.0}, 1.5, 0) == 2


def test_worker_count_is_workers_or_what_fits_but_never_more_than_points_left():
    cluster = {"CPU": 16.0}
    assert worker_count(RayPlan(workers=3), cluster, 100) == 3
    assert worker_count(RayPlan(), cluster, 100) == 16
    assert worker_count(RayPlan(), cluster, 5) == 5
    assert worker_count(RayPlan(), cluster, 0) == 0
    with pytest.raises(UserError, match="no room for one worker"):
        worker_count(RayPlan(gpus=1), cluster, 5)


def test_ray_with_sqlite_and_a_cluster_address_exits_2_with_one_line(tmp_path):
    study = tmp_path / "grid.toml"
    study.write_text(GRID.format(epochs=1))
    db_file = tmp_path / "a.db"
    result = CliRunner().invoke(main, ["run", str(study), "--ray", "10.0.0.5:6379",
                                       "--storage", f"sqlite:///{db_file}"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "SQLite" in lines[0] and "PostgreSQL" in lines[0], result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not db_file.exists()  # nothing written


def test_ray_options_without_ray_and_max_trials_with_ray_are_refused(tmp_path):
    study = tmp_path / "grid.toml"
    study.write_text(GRID.format(epochs=1))
    url = f"sqlite:///{tmp_path / 'a.db'}"
    for extra, said in ((["--gpus-per-worker", "0.5"], "go with --ray"),
                        (["--ray", "--max-trials", "1"], "without --ray"),
                        (["--ray", "--cpus-per-worker", "0"], "both 0")):
        result = CliRunner().invoke(main, ["run", str(study), "--storage", url, *extra])
        assert result.exit_code == 2 and said in result.stderr, (extra, result.output)


def test_base_install_and_help_never_import_ray():
    code = ("import sys\n"
            "import ablation.cli\n"
            "from click.testing import CliRunner\n"
            "for args in (['--help'], ['run', '--help'], ['worker', '--help']):\n"
            "    assert CliRunner().invoke(ablation.cli.main, args).exit_code == 0, args\n"
            "import ablation.engine.trials.worker, ablation.engine.runners.local\n"
            "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@needs_ray
def test_two_ray_workers_on_postgres_do_each_point_once(tmp_path, pg_url):
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID.format(epochs=2))
    env = _env(tmp_path, "sleep:0.2")
    code, out = _finish(_ablate("run", str(grid), "--ray", "--workers", "2", "--storage", pg_url,
                                "--artifacts", str(tmp_path / "artifacts"), env=env),
                        timeout=240)
    assert code == 0, out
    assert "12 trial(s) run now, 0 done before, 0 left of 12" in out
    assert "ray: 2 worker(s)" in out and "Traceback" not in out
    assert "baseline" in out  # the final table, printed on the driver
    assert_exactly_once(pg_url, grid, tmp_path)
    pids = {line.split()[0] for line in (tmp_path / "log").read_text().splitlines()}
    assert len(pids) == 2 and str(os.getpid()) not in pids  # trained in the 2 Ray workers


def _epochs_of_first_trial(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM ablate_epochs WHERE "
                                        "trial_number = 0")).scalar_one()
    except sa.exc.DBAPIError:  # tables not created yet
        return 0
    finally:
        engine.dispose()


def _pid_training_trial_0(url: str, log: Path) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            key = conn.execute(sa.text("SELECT point_key FROM ablate_runs WHERE "
                                       "trial_number = 0")).scalar_one()
    finally:
        engine.dispose()
    pids = [int(pid) for pid, k in (line.split() for line in log.read_text().splitlines())
            if k == key]
    assert len(pids) == 1
    return pids[0]


@needs_ray
def test_killed_ray_worker_is_taken_over_and_resumes_from_its_checkpoint(tmp_path, pg_url):
    study = tmp_path / "grid.toml"
    study.write_text(GRID.format(epochs=3).replace("seeds = 3", "seeds = 2")
                     .replace('"sgd", "adam", "nadam", "rmsprop"', '"nadam"'))
    env = _env(tmp_path, "slow:0.7")  # the real trainer, pausing after every epoch
    proc = _ablate("run", str(study), "--ray", "--workers", "2", "--storage", pg_url,
                   "--artifacts", str(tmp_path / "artifacts"), "--heartbeat-grace", "3",
                   env=env)
    deadline = time.monotonic() + 150
    while _epochs_of_first_trial(pg_url) < 1:
        assert proc.poll() is None and time.monotonic() < deadline, _finish(proc)[1]
        time.sleep(0.2)
    os.kill(_pid_training_trial_0(pg_url, tmp_path / "log"), signal.SIGKILL)
    code, out = _finish(proc, timeout=240)
    assert code == 0, out
    trials = optuna.load_study(study_name="grid", storage=open_store(pg_url).optuna).get_trials()
    dead = next(t for t in trials if t.number == 0)
    assert dead.state.name == "FAIL"
    retry = next(t for t in trials if t.user_attrs.get("retry_of") == 0)
    assert retry.state.name == "COMPLETE"
    assert retry.user_attrs["point_key"] == dead.user_attrs["point_key"]
    assert retry.user_attrs["resumed_from_epoch"] >= 1  # from the dead worker's checkpoint
    assert sorted(retry.intermediate_values) == [1, 2, 3]
    complete = [t.user_attrs["point_key"] for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == len(set(complete)) == 2
    assert all(p.state == "done" for p in db.list_points(open_store(pg_url).engine, "grid"))
    assert not list((tmp_path / "artifacts" / "checkpoints").rglob("*.pt"))


@needs_ray
@pytest.mark.slow  # ~30 s more of Ray; Ctrl-C of local workers is in the default run
def test_ctrl_c_on_the_driver_cancels_ray_workers_cleanly(tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID.format(epochs=2))
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    proc = _ablate("run", str(grid), "--ray", "--workers", "2", "--storage", url,
                   env=_env(tmp_path, "sleep:1.5"), start_new_session=True)
    log, deadline = tmp_path / "log", time.monotonic() + 120
    while not log.exists() or len(log.read_text().split()) < 4:  # both workers training
        assert proc.poll() is None and time.monotonic() < deadline, _finish(proc)[1]
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    code, out = _finish(proc)
    assert code == 130 and "run the same command again" in out, out
    store = open_store(url)
    trials = optuna.load_study(study_name="grid", storage=store.optuna).get_trials()
    assert len([t for t in trials if t.user_attrs.get("failure") == "interrupted"]) == 2
    assert not [p for p in db.list_points(store.engine, "grid") if p.state == "running"]
