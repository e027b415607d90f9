"""Shared fixtures: temporary storage, a fake trainer for engine tests, tiny real data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import torch
from click.testing import CliRunner

from ablation.cli import main
from ablation.config.trainconfig import TrainConfig
from tests import fakes
from tests.fakes import scratch_database


@pytest.fixture
def storage_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ablate.db'}"


@pytest.fixture
def tiny_config() -> TrainConfig:
    return TrainConfig(dataset="digits", model="resnet-lite", width=4, epochs=1, batch_size=64,
                       train_limit=200)


@pytest.fixture(autouse=True)
def _threads() -> None:
    # 2 cores here; several agents or workers sharing them set ABLATE_TEST_THREADS=1 to avoid
    # oversubscription (measured ~8x slower per step here). Under pytest-xdist (-n N) each of the
    # N test processes gets its share of the cores, for the same reason.
    share = max(1, 2 // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    torch.set_num_threads(int(os.environ.get("ABLATE_TEST_THREADS", str(share))))


@pytest.fixture(autouse=True)
def _fixed_seeds(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests count the trials a run makes: they run a study's seeds once, as --fixed-seeds does.
    # The default rounds are tested in tests/engine/test_rounds.py (which removes this).
    monkeypatch.setenv("ABLATE_FIXED_SEEDS", "1")


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # Staged copies of data files go to a per-session temporary cache, not ~/.cache.
    monkeypatch.setenv("ABLATE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema on the test PostgreSQL server (tests.fakes.SERVERS), dropped after."""
    with scratch_database("postgres", "CREATE SCHEMA {}", "DROP SCHEMA {} CASCADE") as (
            base, schema):
        sep = "&" if "?" in base else "?"
        yield f"{base}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """A fresh MySQL/MariaDB database (tests.fakes.SERVERS), dropped after."""
    with scratch_database("mysql", "CREATE DATABASE {}", "DROP DATABASE {}") as (base, name):
        yield sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """One trained study (MNIST-format files, 1 trial) for the read-only tests of a module."""
    folder = tmp_path_factory.mktemp("stored")
    data, storage_url = folder / "data", f"sqlite:///{folder / 'ablate.db'}"
    fakes.write_idx(data, "", n_train=300, n_test=60, gz=True)
    study = folder / "kaggle.toml"
    study.write_text(fakes.KAGGLE_STUDY.format(dataset="mnist"))
    # Made before the function-scoped fixtures above set these for each test.
    env = {"ABLATE_FIXED_SEEDS": "1",
           "ABLATE_CACHE": str(tmp_path_factory.getbasetemp() / "cache")}
    res = CliRunner(env=env).invoke(main, ["run", str(study), "--storage", storage_url,
                                           "--data-dir", str(data)])
    assert res.exit_code == 0, res.output
    return storage_url, data
