"""The one home of the suite's fakes and shared helpers.

Trainers for tests that start real ``ablate`` processes, named with ``--trainer``
(``--trainer tests.fakes:sleep_fit``), the same way a user plugs in a trainer of their own.

- ``sleep_fit``: no training; deterministic made-up metrics and test predictions (1,000 made-up
  test labels), ABLATE_FAKE_PAUSE seconds per epoch.
- ``noisy_fit``: made-up accuracies with a known effect per optimizer and seeded seed noise
  (for the statistics: rounds, plans).
- ``slow_fit``: the real trainer, pausing ABLATE_FAKE_PAUSE seconds after every epoch (so a test
  can SIGKILL a worker between two checkpoints).
- ``failing_fit``: as sleep_fit, but points with optimizer sgd fail (ABLATE_FAKE_FAIL says how).
- ``ABLATE_FAKE_LOG=FILE``: every call appends "pid point-key" to FILE, so a test sees each
  training that started, whatever the database says.

In-process fakes and helpers: ``FakeFit`` (records its calls; metrics from ``made_up_score``, the
same formula as sleep_fit's), ``make_spec``, IDX writers and scratch server databases;
``_ablate``/``_finish`` start and end a real ``ablate`` process, ``_invoke`` runs the same command
in this process.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import io
import json
import os
import socket
import struct
import subprocess
import sys
import time
import traceback
import urllib.request
import uuid
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
import sqlalchemy as sa
import torch
from torch import nn

from ablation.analysis.records import EpochRecord, Metrics
from ablation.compression import artifact
from ablation.compression.transforms import quantize_int8
from ablation.config.trainconfig import TrainConfig
from ablation.engine.options import RunOptions
from ablation.engine.storage import db
from ablation.engine.storage.store import open_store
from ablation.models import build_model
from ablation.sampling.samplers import SAMPLERS
from ablation.spec.files import load_study
from ablation.spec.space import grid_points, point_key
from ablation.spec.study import parse_study
from ablation.training.fit import EpochCallback, FitResult, fit


def made_up_score(config: TrainConfig, seed: int) -> float:
    """A deterministic stand-in accuracy in [0, 0.97]: differs between configurations and seeds."""
    return (sum(map(ord, repr(config.describe()))) % 97) / 100 + seed / 1000


SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"


def _pause() -> float:
    return float(os.environ.get("ABLATE_FAKE_PAUSE", "0"))


def _log(config: TrainConfig, seed: int) -> None:
    path = os.environ.get("ABLATE_FAKE_LOG")
    if path:
        line = f"{os.getpid()} {point_key(config, seed)}\n".encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)  # one small O_APPEND write: lines of several processes never mix
        finally:
            os.close(fd)


def sleep_fit(config: TrainConfig, seed: int, *, data_dir: Path, on_epoch: EpochCallback |
              None = None, checkpoint: Any = None) -> FitResult:
    """Made-up metrics that depend on configuration and seed; sleeps instead of training."""
    _log(config, seed)
    score = made_up_score(config, seed)
    for epoch in range(1, config.epochs + 1):
        time.sleep(_pause())
        if on_epoch is not None:
            on_epoch(EpochRecord(epoch, 1 / epoch, score, 1 / epoch, score, 0.1, 0.0))
    labels, pred = _made_up_predictions(config, seed, score)
    confusion = np.zeros((N_CLASSES, N_CLASSES), dtype=int)
    np.add.at(confusion, (labels, pred), 1)
    metrics = Metrics(test_loss=1 - score, test_accuracy=float(np.mean(pred == labels)),
                      macro_f1=score, val_loss=1 - score, val_accuracy=score, train_seconds=0.0,
                      infer_seconds=0.0, infer_ms_per_image=0.0, params=6, state_bytes=100,
                      epochs_run=config.epochs,
                      confusion=tuple(tuple(int(v) for v in r) for r in confusion))
    return FitResult(metrics, (), nn.Linear(2, 2), predictions=torch.from_numpy(pred),
                     labels=torch.from_numpy(labels))


N_TEST, N_CLASSES = 1000, 10  # the made-up test set of sleep_fit


def _made_up_predictions(config: TrainConfig, seed: int,
                         score: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels 0..9 in turn and predictions right on round(score * N_TEST) examples chosen at
    random (seeded by configuration and seed), wrong by one class elsewhere."""
    labels = np.arange(N_TEST) % N_CLASSES
    rng = np.random.default_rng(int(point_key(config, seed)[:8], 16))
    right = rng.permutation(N_TEST) < round(score * N_TEST)
    return labels, np.where(right, labels, (labels + 1) % N_CLASSES)


def slow_fit(config: TrainConfig, seed: int, *, data_dir: Path, on_epoch: EpochCallback |
             None = None, checkpoint: Any = None) -> FitResult:
    """The real trainer with a pause after every epoch (after its checkpoint is written)."""
    _log(config, seed)

    def paused(record: EpochRecord) -> None:
        if on_epoch is not None:
            on_epoch(record)
        time.sleep(_pause())

    return fit(config, seed, data_dir=data_dir, on_epoch=paused, checkpoint=checkpoint)


def untrained_fit(config: TrainConfig, seed: int, *, data_dir: Path,
                  on_epoch: EpochCallback | None = None, checkpoint: Any = None) -> FitResult:
    """The configuration's real model, initialised but not trained, with made-up metrics.

    Its weights load wherever a trained trial's do (predict, embed, cross-eval), in no time.
    """
    import torch

    from ablation.data.datasets import load_raw
    from ablation.models import build_model

    raw = load_raw(config.dataset, str(data_dir))
    torch.manual_seed(seed)
    model = build_model(config.model, tuple(raw.train_x.shape[1:]), len(raw.classes),
                        config.activation, width=config.width, blocks=config.blocks,
                        dropout=config.dropout)
    made_up = sleep_fit(config, seed, data_dir=data_dir, on_epoch=on_epoch)
    return FitResult(made_up.metrics, made_up.curve, model, predictions=made_up.predictions,
                     labels=made_up.labels)


# Made-up true effects on test accuracy (fraction) for noisy_fit; other optimizers: 0.
EFFECTS = {"sgd": -0.05, "adamax": 0.004}


def noisy_fit(config: TrainConfig, seed: int, *, data_dir: Path,
              on_epoch: EpochCallback | None = None, checkpoint: Any = None) -> FitResult:
    """Accuracy 0.9 + the optimizer's made-up effect (EFFECTS) + seed noise: a part every
    configuration shares per seed (sd 0.002) and its own part (sd 0.001), both seeded, so a
    paired test sees what a real study would. No predictions are returned."""
    _log(config, seed)
    return _noisy_result(config, seed, EFFECTS.get(config.optimizer, 0.0), on_epoch)


def _noisy_result(config: TrainConfig, seed: int, effect: float,
                  on_epoch: EpochCallback | None) -> FitResult:
    """Accuracy 0.9 + ``effect`` + seed noise shared by every configuration (sd 0.002) and the
    configuration's own (sd 0.001), both seeded: one epoch reported, no predictions."""
    shared = np.random.default_rng(seed).normal(0, 0.002)
    own = np.random.default_rng(int(point_key(config, seed)[:8], 16)).normal(0, 0.001)
    acc = 0.9 + effect + shared + own
    if on_epoch is not None:
        on_epoch(EpochRecord(1, 1 - acc, acc, 1 - acc, acc, 0.1, 0.0))
    metrics = Metrics(test_loss=1 - acc, test_accuracy=acc, macro_f1=acc, val_loss=1 - acc,
                      val_accuracy=acc, train_seconds=0.0, infer_seconds=0.0,
                      infer_ms_per_image=0.0, params=6, state_bytes=100, epochs_run=1,
                      confusion=((5000, 0), (0, 5000)))
    return FitResult(metrics, (), nn.Linear(2, 2))


def failing_fit(config: TrainConfig, seed: int, *, data_dir: Path, on_epoch: EpochCallback |
                None = None, checkpoint: Any = None) -> FitResult:
    """``sleep_fit``, except that points with ``optimizer = "sgd"`` fail: with ValueError (a
    configuration failure), or as ABLATE_FAKE_FAIL says: "memory" (MemoryError, an
    infrastructure failure) or "nan" (a diverging training loss)."""
    _log(config, seed)
    if config.optimizer != "sgd":
        return sleep_fit(config, seed, data_dir=data_dir, on_epoch=on_epoch)
    how = os.environ.get("ABLATE_FAKE_FAIL", "value")
    if how == "memory":
        raise MemoryError("fake: out of memory")
    if how == "nan" and on_epoch is not None:
        on_epoch(EpochRecord(1, float("nan"), 0.1, float("nan"), 0.1, 0.1, 0.0))
    raise ValueError("fake: this configuration cannot train")


def placed_fit(config: TrainConfig, seed: int, *, data_dir: Path,
               on_epoch: EpochCallback | None = None, checkpoint: Any = None,
               device: str = "unset", deterministic: bool = False) -> FitResult:
    """sleep_fit that logs, per trained point, the device keywords it was handed and the
    CUDA_VISIBLE_DEVICES its process sees (ABLATE_FAKE_PLACED_LOG)."""
    path = os.environ["ABLATE_FAKE_PLACED_LOG"]
    line = (f"{os.getpid()} {device} {deterministic} "
            f"{os.environ.get('CUDA_VISIBLE_DEVICES', '-')} {point_key(config, seed)}\n")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    return sleep_fit(config, seed, data_dir=data_dir, on_epoch=on_epoch, checkpoint=checkpoint)


# recipe_fit's made-up truth (test accuracy, fraction): adamw and clipping help, augmentation
# does nothing, and adamw with clipping adds RECIPE_SYNERGY on top of both.
RECIPE_EFFECTS = {"adamw": 0.010, "clip": 0.008, "augment": 0.0}
RECIPE_SYNERGY = 0.006


def recipe_fit(config: TrainConfig, seed: int, *, data_dir: Path,
               on_epoch: EpochCallback | None = None, checkpoint: Any = None) -> FitResult:
    """Accuracy 0.9 + the recipe components' made-up effects (RECIPE_EFFECTS, RECIPE_SYNERGY)
    + seed noise as in noisy_fit (shared per seed sd 0.002, own sd 0.001)."""
    _log(config, seed)
    on = {"adamw": config.optimizer == "adamw", "clip": config.grad_clip > 0,
          "augment": config.augment}
    effect = (sum(RECIPE_EFFECTS[k] for k, v in on.items() if v)
              + (RECIPE_SYNERGY if on["adamw"] and on["clip"] else 0.0))
    return _noisy_result(config, seed, effect, on_epoch)


def fake_metrics(config: TrainConfig, seed: int) -> Metrics:
    """Deterministic made-up metrics that depend on the configuration and the seed."""
    score = made_up_score(config, seed)
    return Metrics(test_loss=1 - score, test_accuracy=score, macro_f1=score, val_loss=1 - score,
                   val_accuracy=score, train_seconds=0.01, infer_seconds=0.001,
                   infer_ms_per_image=0.01, params=6, state_bytes=100, epochs_run=config.epochs,
                   confusion=((1, 0), (0, 1)))


class FakeFit:
    """Stands in for training.fit: records its calls, reports every epoch, never trains."""

    def __init__(self, fail_on_call: int | None = None,
                 exc: type[BaseException] = RuntimeError) -> None:
        self.calls: list[tuple[TrainConfig, int]] = []
        self.fail_on_call = fail_on_call
        self.exc = exc

    def __call__(self, config: TrainConfig, seed: int, *, data_dir: Path,
                 on_epoch=None, checkpoint=None) -> FitResult:
        self.calls.append((config, seed))
        m = fake_metrics(config, seed)
        for e in range(1, config.epochs + 1):
            if self.fail_on_call == len(self.calls) and e == config.epochs:
                raise self.exc("stopped on purpose")
            if on_epoch:
                on_epoch(EpochRecord(e, 1.0 / e, m.val_accuracy, 1.0 / e, m.val_accuracy,
                                     0.1, 0.01 * e))
        return FitResult(m, (), nn.Linear(2, 2))


def write_idx(folder: Path, prefix: str, n_train: int, n_test: int, gz: bool,
              test_word: str = "t10k", n_classes: int = 10) -> None:
    """Write MNIST-format IDX files (big-endian header, uint8 data) like the official ones."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for part, n in (("train", n_train), (test_word, n_test)):
        labels = (np.arange(n) % n_classes).astype(np.uint8)
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        images[np.arange(n), labels, :] = 255  # a learnable stripe: row = class
        files = {f"{prefix}{part}-images-idx3-ubyte": struct.pack(">IIII", 2051, n, 28, 28)
                 + images.tobytes(),
                 f"{prefix}{part}-labels-idx1-ubyte": struct.pack(">II", 2049, n)
                 + labels.tobytes()}
        for name, blob in files.items():
            if gz:
                with gzip.open(folder / f"{name}.gz", "wb") as f:
                    f.write(blob)
            else:
                (folder / name).write_bytes(blob)


def make_spec(seeds=2, choices=("sgd", "adam", "nadam"), **baseline):
    doc = {"study": {"name": "opt", "seeds": seeds},
           "baseline": {"optimizer": "nadam", "epochs": 2, **baseline},
           "axes": {"optimizer": {"choices": list(choices)}}}
    return parse_study(doc, "test")


# Where the README's test command finds the database servers when no variable names them: the
# local defaults of PostgreSQL and MariaDB (this project's machines run both there). Plain URLs:
# SQLAlchemy's default drivers (psycopg 3, mysqlclient), which the postgres/mysql extras install;
# without mysqlclient (the test extra alone, on a machine without libmariadb-dev) MySQL is reached
# through PyMySQL, and only the test of the plain mysql:// URL itself is skipped.
HAS_MYSQLCLIENT = importlib.util.find_spec("MySQLdb") is not None
SERVERS = {
    "postgres": ("ABLATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"),
    "mysql": ("ABLATE_TEST_MYSQL", "mysql://root@127.0.0.1:3306/test" if HAS_MYSQLCLIENT
              else "mysql+pymysql://root@127.0.0.1:3306/test")}


@contextlib.contextmanager
def scratch_database(kind: str, create: str, drop: str) -> Iterator[tuple[str, str]]:
    """A scratch schema/database on the ``kind`` server, dropped after; yields (base, name).

    The server is the one its variable names, else its local default. An unreachable server
    skips the test, except under CI=true, where .ci/run must have started it.
    """
    env, default = SERVERS[kind]
    base = os.environ.get(env) or default
    name = f"ablate_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, connect_args={"connect_timeout": 5})
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(create.format(name)))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {kind} at {base} cannot be reached: {exc.orig}")
        pytest.skip(f"no {kind} server reachable at {base} (set {env} to point at one)")
    try:
        yield base, name
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(drop.format(name)))
        admin.dispose()


META = {"model": "tiny-cnn", "input_shape": [1, 28, 28], "n_classes": 10, "activation": "relu",
        "width": 8, "blocks": 1, "dropout": 0.0}


def tiny(width: int = 8, seed: int = 0) -> nn.Module:
    """A tiny-cnn with non-trivial BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    model = build_model("tiny-cnn", (1, 28, 28), 10, width=width)
    with torch.no_grad():
        model.train()(torch.randn(64, 1, 28, 28))
    return model.eval()


def write_v1(path: Path, model: nn.Module, meta: dict, mode: str, sparse: bool = False) -> None:
    """An ``ABLT`` version-1 file, byte for byte as ablate wrote them before safetensors."""
    weights = artifact.weight_names(model)
    entries, chunks = [], []
    for name, tensor in model.state_dict().items():
        if not tensor.is_floating_point():
            continue
        dtype = "i1" if mode == "int8" and name in weights else "f2" if mode != "fp32" else "f4"
        enc, blob = _blob(tensor, dtype, sparse and name in weights)
        entries.append([name, list(tensor.shape), enc, dtype, len(blob)])
        chunks.append(blob)
    payload = b"".join(chunks)
    header = json.dumps({"meta": meta, "size": len(payload), "crc": zlib.crc32(payload),
                         "tensors": entries}, separators=(",", ":")).encode()
    path.write_bytes(struct.pack("<4sBI", b"ABLT", 1, len(header)) + header + payload)


ROOT = Path(__file__).resolve().parents[1]


GRID = """
[study]
name = "grid"
seeds = 3
[baseline]
dataset = "digits"
model = "resnet-lite"
width = 4
epochs = {epochs}
train_limit = 200
optimizer = "nadam"
[axes.optimizer]
choices = ["sgd", "adam", "nadam", "rmsprop"]
"""


def _env(tmp_path: Path, fit: str) -> dict[str, str]:
    """Environment for real processes; ``fit`` is "sleep:S" or "slow:S" (tests/fakes.py)."""
    kind, _, pause = fit.partition(":")
    return {**os.environ, "ABLATE_FAKE": kind, "ABLATE_FAKE_PAUSE": pause or "0",
            "ABLATE_FAKE_LOG": str(tmp_path / "log"), "PYTHONPATH": str(ROOT),
            "OMP_NUM_THREADS": "1", "ABLATE_CACHE": str(tmp_path / "cache")}


def _ablate(*args: str, env: dict[str, str], **kw) -> subprocess.Popen:
    trainer = ["--trainer", f"tests.fakes:{env['ABLATE_FAKE']}_fit"]
    return subprocess.Popen([sys.executable, "-m", "ablation", *args, *trainer], env=env,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **kw)


def _finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out + err


def _invoke(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """What ``_finish(_ablate(*args, env=env))`` gives, run in this process by click's runner:
    for the runs of a test that need no process of their own (a re-run after a fault). A new
    process imports torch, torch._dynamo and the engine (4-6 s) and tears them down on exit
    (~2 s), measured on the 2-core AMD EPYC here at load 1.4-5. An exception the command does
    not turn into an exit status is appended as its traceback, as a process prints it."""
    from click.testing import CliRunner

    from ablation.cli import main

    trains = args[0] in ("run", "worker")
    trainer = ["--trainer", f"tests.fakes:{env['ABLATE_FAKE']}_fit"] if trains else []
    fake = {k: v for k, v in env.items() if k.startswith("ABLATE_")}
    res = CliRunner(env=fake).invoke(main, [*args, *trainer])
    out = res.output
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        out += "".join(traceback.format_exception(res.exception))
    return res.exit_code, out


def _trained(tmp_path: Path) -> Counter:
    lines = (tmp_path / "log").read_text().split()
    return Counter(lines[1::2])  # "pid key" pairs -> how often each point started training


def wait_for_training(proc: subprocess.Popen, tmp_path: Path, n: int = 1,
                      limit: float = 90) -> None:
    """Until ``n`` trainings have started (ABLATE_FAKE_LOG), while ``proc`` is still running."""
    deadline = time.monotonic() + limit
    while not (tmp_path / "log").exists() or sum(_trained(tmp_path).values()) < n:
        assert proc.poll() is None and time.monotonic() < deadline, _finish(proc)[1]
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, deadline: float):
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return json.loads(r.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _kaggle_csv(path: Path, rows: int, labelled: bool = True, bom: bool = False,
                label: int | None = None, head: str | None = None, tail: bytes = b"") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = head if head is not None else ",".join(
        (["label"] if labelled else []) + [f"pixel{i}" for i in range(784)])
    lines = [header]
    for k in range(rows):
        pixels = ",".join(str((k * 7 + i) % 256) for i in range(784))
        lines.append(f"{label if label is not None and k == 1 else k % 10},{pixels}"
                     if labelled else pixels)
    blob = ("\n".join(lines) + "\n").encode()
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + blob + tail)


_CPU = b"X\x03\x00\x00\x00cpu"  # the pickle's BINUNICODE 'cpu' (torch.save's protocol 2)


def as_saved_on(blob: bytes, device: str = "cuda:0") -> bytes:
    """The ``torch.save`` archive ``blob`` with every tensor recorded as stored on ``device``."""
    src = zipfile.ZipFile(io.BytesIO(blob))
    out = io.BytesIO()
    moved = 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("/data.pkl"):
                moved = data.count(_CPU)
                name = device.encode()
                data = data.replace(_CPU, b"X" + len(name).to_bytes(4, "little") + name)
            dst.writestr(info.filename, data)
    assert moved, "no CPU tensor found to move"
    return out.getvalue()


_NP = {"f4": "<f4", "f2": "<f2", "i1": "i1"}


def _blob(tensor: torch.Tensor, dtype: str, sparse: bool) -> tuple[str, bytes]:
    # The version-1 encoder as it was: optional per-channel scales, then dense values or a
    # packbits mask followed by the non-zero values.
    prefix = b""
    if dtype == "i1":
        q = quantize_int8(tensor)
        prefix, flat = q.scales.numpy().astype("<f4").tobytes(), q.codes.numpy().reshape(-1)
    else:
        flat = tensor.detach().float().numpy().reshape(-1).astype(_NP[dtype])
    if not sparse:
        return "d", prefix + flat.tobytes()
    nonzero = flat != 0
    return "b", prefix + np.packbits(nonzero).tobytes() + flat[nonzero].tobytes()


KAGGLE_STUDY = """
[study]
name = "kaggle"
seeds = 1
[baseline]
dataset = "{dataset}"
model = "resnet-lite"
width = 4
blocks = 1
epochs = 1
train_limit = 200
[axes.optimizer]
choices = ["nadam"]
"""



def write_kaggle_test(path: Path, images: np.ndarray) -> None:
    with path.open("w") as f:
        f.write(",".join(f"pixel{i}" for i in range(784)) + "\n")
        for img in images:
            f.write(",".join(str(int(v)) for v in img.reshape(-1)) + "\n")


MINI_STUDY = """
[study]
name = "mini"
seeds = 2
[baseline]
dataset = "digits"
model = "resnet-lite"
width = 4
epochs = 1
train_limit = 300
[axes.optimizer]
choices = ["sgd", "nadam"]
"""


def assert_exactly_once(url: str, study_file: Path, tmp_path: Path) -> list:
    """Every point done once: one COMPLETE trial per point, one training per point."""
    keys = {p.key for p in grid_points(load_study(str(study_file)))}
    store = open_store(url)
    points = db.list_points(store.engine, "grid")
    assert {p.key for p in points} == keys and all(p.state == "done" for p in points)
    trials = optuna.load_study(study_name="grid", storage=store.optuna).get_trials()
    assert sorted(t.user_attrs["point_key"] for t in trials) == sorted(keys)
    assert all(t.state.name == "COMPLETE" for t in trials)
    assert _trained(tmp_path) == Counter({k: 1 for k in keys})
    return trials


# Sampled-search helpers shared by tests/engine/trials/test_search.py and test_sampler_settings.py.
SEARCHING = [n for n in SAMPLERS if SAMPLERS.get(n).searches_ranges]


def search_spec(sampler="tpe", n_trials=5, confirm=None, axes=None, **study):
    axes = axes or {"lr": {"low": 1e-5, "high": 1e-1, "log": True},
                    "batch_size": {"low": 32, "high": 128, "step": 32},
                    "optimizer": {"choices": ["sgd", "adam", "nadam"]}}
    extra = {"confirm": confirm} if confirm else {}
    return parse_study({"study": {"name": "s", "sampler": sampler, "n_trials": n_trials,
                                  "seeds": 2, **extra, **study},
                        "baseline": {"dataset": "digits", "epochs": 2}, "axes": axes}, "t")


def options(tmp_path: Path, **kw) -> RunOptions:
    tmp_path.mkdir(exist_ok=True)
    return RunOptions(f"sqlite:///{tmp_path / 'a.db'}", tmp_path / "art", tmp_path, **kw)
