"""A first start killed at any moment leaves nothing that blocks the next run (issue 21: a kill
while Optuna created its tables left a schema every later run refused)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from ablation.engine.storage import db, schema
from ablation.engine.storage.store import open_store
from ablation.engine.trials.worker import RunOptions, run_study
from ablation.errors import UserError
from tests.fakes import FakeFit, make_spec

ROOT = Path(__file__).resolve().parents[2]
# What a first start does to the database, after the imports: open (create) the storage, then
# ablate's tables, as `ablate run` does before its first trial.
CHILD = """
import sys
from ablation.engine.storage import db
from ablation.engine.storage.store import open_store
print("ready", flush=True)
sys.stdin.readline()
db.create_tables(open_store(sys.argv[1]).engine)
print("done", flush=True)
"""


def _child(url: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", CHILD, url], cwd=ROOT, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc


def _first_start_seconds(tmp_path: Path) -> float:
    proc = _child(f"sqlite:///{tmp_path / 'timing.db'}")
    start = time.monotonic()
    out, _ = proc.communicate("go\n", timeout=120)
    assert "done" in out
    return time.monotonic() - start


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_five_sigkills_at_random_moments_of_a_first_start_never_block_the_next_run(
        tmp_path, monkeypatch):
    monkeypatch.setattr(schema, "CREATION_LOOKS", 1)  # no other worker here to wait for
    window = _first_start_seconds(tmp_path)
    rng = random.Random()
    half_made = 0
    for i in range(5):  # one kill in each fifth of the first start, at a random moment in it
        path = tmp_path / f"kill{i}.db"
        proc = _child(f"sqlite:///{path}")
        proc.stdin.write("go\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        time.sleep(window * (i + rng.random()) / 5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if path.exists() and "alembic_version" not in _tables(path) and _tables(path):
            half_made += 1
        summary = run_study(make_spec(seeds=1), RunOptions(f"sqlite:///{path}",
                                                           tmp_path / "art", tmp_path),
                            FakeFit())
        assert summary.ran == 3 and summary.remaining == 0, i
    print(f"first start {window:.2f} s; {half_made} of 5 kills left a half-made schema")


def _half_made_by_ablate(path: Path) -> None:
    """What a kill leaves between Optuna's first tables and its schema version."""
    open_store(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=delete")
        for table in ("alembic_version", "version_info", "trial_heartbeats"):
            conn.execute(f"DROP TABLE {table}")


def test_a_half_made_schema_of_ablates_first_start_is_finished_not_refused(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setattr(schema, "CREATION_LOOKS", 1)
    path = tmp_path / "half.db"
    _half_made_by_ablate(path)
    run_study(make_spec(seeds=1), RunOptions(f"sqlite:///{path}", tmp_path / "art", tmp_path),
              FakeFit())
    assert {"alembic_version", "version_info", "trial_heartbeats"} <= _tables(path)


def test_a_half_made_schema_without_ablates_tables_is_still_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(schema, "CREATION_LOOKS", 1)
    path = tmp_path / "foreign.db"
    _half_made_by_ablate(path)
    with sqlite3.connect(path) as conn:
        for table in [t for t in _tables(path) if t.startswith("ablate_")]:
            conn.execute(f"DROP TABLE {table}")
    with pytest.raises(UserError, match="incomplete or foreign Optuna schema"):
        open_store(f"sqlite:///{path}")


def test_ablates_tables_alone_are_a_first_start_not_another_application(tmp_path):
    path = tmp_path / "marked.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    db.create_tables(engine)
    engine.dispose()
    open_store(f"sqlite:///{path}")
    assert "alembic_version" in _tables(path)
