"""Test helpers shared across the suite: a fake trainer, IDX writers, small studies."""

from __future__ import annotations

import contextlib
import gzip
import os
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from torch import nn

from ablation.analysis.records import EpochRecord, Metrics
from ablation.config.trainconfig import TrainConfig
from ablation.spec.study import parse_study
from ablation.training.fit import FitResult

SHARED_MNIST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "mnist"


def fake_metrics(config: TrainConfig, seed: int) -> Metrics:
    """Deterministic made-up metrics that depend on the configuration and the seed."""
    score = (sum(map(ord, repr(config.describe()))) % 97) / 100 + seed / 1000
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
# local defaults of PostgreSQL and MariaDB (this project's machines run both there).
SERVERS = {
    "postgres": ("ABLATE_TEST_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"),
    "mysql": ("ABLATE_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test")}


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
