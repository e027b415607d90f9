"""Devices through the engine and the CLI: the run record names the device, GPU-written weights
predict on the CPU, local workers each get their own device, and GPUs a machine lacks exit 2."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ablation.cli import main
from ablation.engine.options import RunOptions, placement_keywords
from ablation.engine.runners.device_plan import Placement, plan_devices, with_device, worker_count
from ablation.engine.runners.local import run_workers
from ablation.engine.storage import db
from ablation.engine.storage.store import open_store
from ablation.engine.trials.environment import device_record, planned_precision
from ablation.errors import UserError
from ablation.training.device import Machine
from tests.fakes import as_saved_on, make_spec, placed_fit, write_kaggle_test

ROOT = Path(__file__).resolve().parents[3]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_run_record_carries_the_device(stored):
    storage, _data = stored
    store = open_store(storage)
    env = json.loads(db.runs(store.engine, "kaggle")[0]["environment"])
    assert env["device"] == "cpu" and env["device_requested"] == "auto"
    assert env["device_name"] == env["cpu"] and isinstance(env["cpu_flags"], list)
    trial = optuna.load_study(study_name="kaggle", storage=store.optuna).trials[0]
    assert trial.user_attrs["device"] == "cpu"


def test_gpu_record_names_the_gpu(monkeypatch):
    import torch

    class Props:
        name, total_memory, major, minor = "Made-up GPU", 80 << 30, 9, 0

    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: Props)
    env = device_record("auto", Machine(cuda=1, cuda_bf16=True))
    assert env["device"] == "cuda:0" and env["device_name"] == "Made-up GPU"
    assert env["device_memory_bytes"] == 80 << 30 and env["compute_capability"] == "9.0"
    assert {"cuda_version", "driver_version", "cudnn_version"} <= set(env)
    assert planned_precision("auto", env) == "bf16"
    assert planned_precision("auto", {**env, "cuda_bf16": False}) == "fp16"
    assert planned_precision("fp32", env) == "fp32"


def test_weights_written_on_a_gpu_predict_on_the_cpu(tmp_path, stored):
    storage, data = stored
    store = open_store(storage)
    trial = optuna.load_study(study_name="kaggle", storage=store.optuna).trials[0]
    weights = Path(storage.removeprefix("sqlite:///")).parent / "artifacts" / str(
        trial.user_attrs["weights_artifact"])
    import numpy as np

    write_kaggle_test(tmp_path / "t.csv", np.random.default_rng(0).integers(
        0, 256, (20, 28, 28), dtype=np.uint8))
    args = ["predict", "kaggle", "--trial", "0", "--input", str(tmp_path / "t.csv"),
            "--storage", storage, "--data-dir", str(data)]
    before = invoke(*args, "-o", str(tmp_path / "a.csv"))
    assert before.exit_code == 0, before.output
    weights.write_bytes(as_saved_on(weights.read_bytes(), "cuda:0"))
    # A file a GPU trial wrote carries the checksum of its own bytes.
    with store.engine.begin() as conn:  # Optuna's API no longer changes a finished trial
        conn.execute(sa.text("UPDATE trial_user_attributes SET value_json = :v WHERE trial_id "
                             "= :t AND key = 'weights_sha256'"),
                     {"v": json.dumps(hashlib.sha256(weights.read_bytes()).hexdigest()),
                      "t": trial._trial_id})
    after = invoke(*args, "-o", str(tmp_path / "b.csv"), "--device", "cpu")
    assert after.exit_code == 0, after.output
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    gpu = invoke(*args, "-o", str(tmp_path / "c.csv"), "--device", "cuda")
    assert gpu.exit_code == 2 and "--device cuda: no CUDA GPU visible" in gpu.output
    assert not (tmp_path / "c.csv").exists()


def test_devices_plan_one_worker_per_gpu_times_per_device():
    four = Machine(cuda=4)
    plan = plan_devices("cuda:0,cuda:2", 2, four)
    assert [p.env for p in plan] == [(("CUDA_VISIBLE_DEVICES", g),) for g in "0202"]
    assert {p.device for p in plan} == {"cuda:0"}  # each worker sees its GPU as the only one
    assert [p.env[0][1] for p in plan_devices("auto", 1, four)] == ["0", "1", "2", "3"]
    # GPU numbers count within this process's own CUDA_VISIBLE_DEVICES, as torch counts them.
    assert [p.env[0][1] for p in plan_devices("cuda:1", 1, Machine(cuda=2), "5,7")] == ["7"]
    assert worker_count(plan, None) == 4 and worker_count(plan, 4) == 4
    with pytest.raises(UserError, match="--workers 3 does not match"):
        worker_count(plan, 3)
    with pytest.raises(UserError, match="--devices cuda:4: 4 CUDA GPU"):
        plan_devices("cuda:0,cuda:4", 1, four)
    with pytest.raises(UserError, match="--devices auto: no CUDA GPU visible"):
        plan_devices("auto", 1, Machine())


def test_study_device_is_checked_and_overridden():
    spec = make_spec(epochs=1)
    assert with_device(spec, None, Machine()).device == "auto"
    assert with_device(spec, "cuda:1", Machine(cuda=2)).device == "cuda:1"
    from dataclasses import replace

    with pytest.raises(UserError, match=r"^test: study.device cuda: no CUDA GPU visible"):
        with_device(replace(spec, device="cuda"), None, Machine())
    assert with_device(replace(spec, device="cuda"), "cpu", Machine()).device == "cpu"


def test_trainers_get_device_keywords_only_if_they_take_them():
    def old(config, seed, *, data_dir, on_epoch, checkpoint): ...
    def new(config, seed, *, data_dir, on_epoch, checkpoint, device="cpu"): ...
    def anything(config, seed, **kw): ...

    assert placement_keywords(old, "cuda:0", True) == {}
    assert placement_keywords(new, "cuda:0", True) == {"device": "cuda:0"}
    assert placement_keywords(anything, "mps", False) == {}  # it may pass them on blindly


def test_each_local_worker_sees_only_its_device_and_points_run_once(tmp_path, monkeypatch):
    log = tmp_path / "placed.log"
    monkeypatch.setenv("ABLATE_FAKE_PLACED_LOG", str(log))
    monkeypatch.setenv("ABLATE_FAKE_PAUSE", "0.05")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    spec = make_spec(seeds=3, epochs=2)
    options = RunOptions(f"sqlite:///{tmp_path / 'a.db'}", tmp_path / "art", tmp_path, threads=1)
    # As --devices would place them, with the CPU standing in for each worker's GPU.
    placements = [Placement((("CUDA_VISIBLE_DEVICES", g),), "cpu") for g in ("3", "5")]
    summary = run_workers(spec, options, 2, placed_fit, None, placements=placements)
    assert summary.ran == summary.total == 9 and summary.remaining == 0
    rows = [line.split() for line in log.read_text().splitlines()]
    assert sorted(r[4] for r in rows) == sorted({r[4] for r in rows}) and len(rows) == 9
    assert {(r[1], r[2]) for r in rows} == {("cpu", "False")}
    seen: dict[str, set[str]] = {}
    for pid, _dev, _det, visible, _key in rows:
        seen.setdefault(pid, set()).add(visible)
    assert all(len(v) == 1 and v <= {"3", "5"} for v in seen.values())  # one GPU per process
    assert "CUDA_VISIBLE_DEVICES" not in __import__("os").environ  # the parent's is untouched


@pytest.mark.parametrize(("args", "message"), [
    (["--device", "cuda"], "error: --device cuda: no CUDA GPU visible on this machine"),
    (["--devices", "cuda:0"], "error: --devices cuda:0: no CUDA GPU visible")])
def test_run_without_the_asked_gpu_exits_2_with_one_line(tmp_path, args, message):
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "ablation", "run", "optimizers", "--storage",
                          f"sqlite:///{tmp_path / 'x.db'}", *args], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == res.stderr.strip().splitlines()[0]  # one line, no traceback
    assert res.stderr.startswith(message)
    assert not (tmp_path / "x.db").exists()  # nothing written


@pytest.mark.parametrize(("args", "message"), [
    (["run", "optimizers", "--device", "cuda:x"], "--device: device must be one of auto, cpu"),
    (["run", "optimizers", "--devices", "auto"], "--devices auto: no CUDA GPU visible"),
    (["run", "optimizers", "--per-device", "2"], "--per-device applies with --devices only"),
    (["run", "optimizers", "--device", "cpu", "--devices", "cuda:0"], "either --device"),
    (["worker", "optimizers", "--device", "mps"], "--device mps: this machine has no MPS"),
    (["cross-eval", "--train", "digits", "--test", "digits", "--device", "cuda:1"],
     "--device cuda:1: no CUDA GPU visible"),
    (["predict", "s", "--trial", "0", "--input", __file__, "-o", "-", "--device", "gpu"],
     "--device: device must be one of")])
def test_every_command_checks_its_device(tmp_path, args, message):
    res = invoke(*args, "--storage", f"sqlite:///{tmp_path / 'x.db'}")
    assert res.exit_code == 2 and message in res.output, res.output
    assert not (tmp_path / "x.db").exists()


def test_run_on_an_explicit_cpu_records_it(tmp_path):
    study = tmp_path / "s.toml"
    study.write_text(STUDY)
    url = f"sqlite:///{tmp_path / 'x.db'}"
    res = invoke("run", str(study), "--storage", url, "--device", "cpu")
    assert res.exit_code == 0, res.output
    env = json.loads(db.runs(open_store(url).engine, "cpu")[0]["environment"])
    assert (env["device"], env["device_requested"], env["deterministic"]) == ("cpu", "cpu", True)


STUDY = """
[study]
name = "cpu"
seeds = 1
deterministic = true
[baseline]
width = 4
blocks = 1
epochs = 1
train_limit = 100
[axes.optimizer]
choices = ["nadam"]
"""


def test_run_devices_starts_one_worker_per_gpu_slot(tmp_path, monkeypatch):
    # The CLI's wiring of --devices/--per-device on a made-up 2-GPU machine; the workers
    # themselves run in this process on the CPU (spawning them is tested above).
    import dataclasses

    from ablation.engine.runners import choice
    from ablation.engine.trials.worker import run_study
    from ablation.training import device as device_mod

    monkeypatch.setattr(device_mod, "machine", lambda: Machine(cuda=2, cuda_bf16=True))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    seen = []

    def fake_run_workers(spec, options, workers, fit_fn, progress, store, placements):
        seen.append((workers, [p.env for p in placements], spec.device))
        return run_study(dataclasses.replace(spec, device="cpu"), options, fit_fn, None, store)

    monkeypatch.setattr(choice, "run_workers", fake_run_workers)
    res = invoke("run", "optimizers", "--dataset", "digits", "--epochs", "1", "--seeds", "1",
                 "--devices", "auto", "--per-device", "2", "--trainer", "tests.fakes:sleep_fit",
                 "--storage", f"sqlite:///{tmp_path / 'x.db'}")
    assert res.exit_code == 0, res.output
    visible = [(("CUDA_VISIBLE_DEVICES", g),) for g in "0101"]
    assert seen and all(s == (4, visible, "auto") for s in seen)
    seen.clear()  # one GPU named: still its own worker process, seeing only that GPU
    one = invoke("run", "optimizers", "--dataset", "digits", "--epochs", "1", "--seeds", "1",
                 "--devices", "cuda:1", "--trainer", "tests.fakes:sleep_fit",
                 "--storage", f"sqlite:///{tmp_path / 'one.db'}")
    assert one.exit_code == 0, one.output
    assert seen and all(s == (1, [(("CUDA_VISIBLE_DEVICES", "1"),)], "auto") for s in seen)
    again = invoke("run", "optimizers", "--dataset", "digits", "--devices", "cuda:1",
                   "--workers", "2", "--storage", f"sqlite:///{tmp_path / 'x.db'}")
    assert again.exit_code == 2 and "--workers 2 does not match" in again.output
