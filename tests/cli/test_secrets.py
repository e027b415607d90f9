"""A storage password appears nowhere: not in any command's output (successes, errors, progress
lines, the dashboard banner), not in any file a command writes, not in any stored record.

Every command runs against PostgreSQL with a URL that carries a password (the test server
trusts local connections, so any password is accepted), and everything is searched for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ablation.cli import main
from tests.fakes import _kaggle_csv

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Pw-4-leak-hunt"
STUDY = """
[study]
name = "leak"
seeds = 1
[baseline]
dataset = "kaggle-digits"
model = "resnet-lite"
width = 4
epochs = 1
[axes.optimizer]
choices = ["sgd", "nadam"]
"""
FAKE = ("--trainer", "tests.fakes:untrained_fit")


@pytest.fixture
def secret_url(pg_url: str) -> str:
    return sa.engine.make_url(pg_url).set(password=SECRET).render_as_string(hide_password=False)


def _commands(tmp: Path, url: str) -> list[list[str]]:
    data, arts = ("--data-dir", str(tmp / "kaggle")), ("--artifacts", str(tmp / "artifacts"))
    study, db = str(tmp / "s.toml"), ("--storage", url)
    changed = str(tmp / "changed.toml")
    query_url = url.replace(f":{SECRET}@", "@") + f"&password={SECRET}"
    return [
        ["run", study, *db, *data, *arts, *FAKE], ["run", study, *db, *data, *arts, *FAKE],
        ["worker", study, *db, *data, *arts, *FAKE],
        ["run", study, "--storage", query_url, *data, *arts, *FAKE],
        ["show", "leak", *db], ["show", "nosuch", *db],
        ["export", "leak", "--csv", str(tmp / "o.csv"), "--markdown", str(tmp / "o.md"),
         "--latex", str(tmp / "o.tex"), *db],
        ["export", "leak", "--per-trial", "--csv", "-", *db],
        ["report", "leak", "-o", str(tmp / "r.html"), *db],
        ["embed", "leak", "--trial", "0", "--sample", "10", "-o", str(tmp / "e.html"), *db,
         *data, *arts],
        ["predict", "leak", "--trial", "0", "--input", str(tmp / "test.csv"), "-o",
         str(tmp / "sub.csv"), *db, *data, *arts],
        ["cross-eval", "--train", "kaggle-digits", "--test", "kaggle-digits", "--epochs", "1",
         "--markdown", str(tmp / "x.md"), *db, *data, *arts, *FAKE],
        ["dashboard", *db, *arts],
        ["worker", changed, *db, *data, *arts, *FAKE],  # "created from a different baseline"
        ["show", "leak", "--storage", url.replace("5432", "1")],  # connection refused
        ["show", "leak", "--storage", url.replace("5432", "5x")],  # not a URL (bad port)
        ["validate", study], ["studies"],
    ]


def test_no_command_output_no_file_and_no_record_shows_the_password(tmp_path, secret_url,
                                                                    monkeypatch):
    import ablation.cli.serving as serving

    monkeypatch.setattr(serving, "serve", lambda app, host, port: None)  # banner only
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text(STUDY)
    (tmp_path / "changed.toml").write_text(STUDY.replace("epochs = 1", "epochs = 2"))
    _kaggle_csv(tmp_path / "kaggle" / "train.csv", 120)
    _kaggle_csv(tmp_path / "test.csv", 5, labelled=False)
    outputs, codes = [], []
    for args in _commands(tmp_path, secret_url):
        res = CliRunner().invoke(main, args)
        outputs.append(res.output)
        codes.append(res.exit_code)
        assert "Traceback" not in res.output, (args, res.output)
        assert SECRET not in res.output, (args[0], res.output)
    # Every command did its work (the errors are the rows meant to fail, with exit 2).
    assert codes == [0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 0, 0], outputs
    assert "***" in "".join(outputs)  # the URL was shown, masked
    assert "different baseline" in outputs[13] and "no study 'nosuch'" in outputs[5]
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    _assert_no_record_holds(secret_url)


def test_local_worker_processes_never_print_the_password(tmp_path, secret_url):
    (tmp_path / "s.toml").write_text(STUDY)
    _kaggle_csv(tmp_path / "kaggle" / "train.csv", 120)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "ABLATE_STORAGE": secret_url, "ABLATE_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "ablation", "run", str(tmp_path / "s.toml"),
                           "--workers", "2", "--data-dir", str(tmp_path / "kaggle"),
                           "--artifacts", str(tmp_path / "artifacts"), *FAKE],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "***" in out, out
    assert SECRET not in out
    _assert_no_record_holds(secret_url)


def _assert_no_record_holds(url: str) -> None:
    """Every row of every table in the schema, as text, is free of the password."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            assert "ablate_runs" in tables and "trial_user_attributes" in tables
            for table in tables:
                for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                    assert SECRET not in repr(tuple(row)), table
    finally:
        engine.dispose()
