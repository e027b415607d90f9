"""The URL ablate prints opens unchanged in Optuna's own tools (issue 21): `optuna studies`,
optuna-dashboard, optuna.load_study and trials_dataframe(), on PostgreSQL and MariaDB through
SQLAlchemy's default drivers (a plain postgresql:// or mysql:// URL)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from ablation.cli import main
from tests.fakes import HAS_MYSQLCLIENT, free_port, get_json

BIN = Path(sys.executable).parent
GRID = """
[study]
name = "grid"
seeds = 1
[baseline]
dataset = "digits"
epochs = 1
[axes.optimizer]
choices = ["sgd", "adam"]
"""


def _run(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "grid.toml").write_text(GRID)
    monkeypatch.setenv("ABLATE_FAKE_PAUSE", "0")
    monkeypatch.setenv("ABLATE_FAKE_LOG", str(tmp_path / "log"))
    res = CliRunner().invoke(main, ["run", str(tmp_path / "grid.toml"), "--storage", url,
                                    "--artifacts", str(tmp_path / "art"),
                                    "--trainer", "tests.fakes:sleep_fit"],
                             terminal_width=400, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res.output


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed beside {sys.executable}")
    return str(path)


def _dashboard_lists(url: str) -> list[str]:
    port = free_port()
    proc = subprocess.Popen([_tool("optuna-dashboard"), url, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        found = get_json(f"http://127.0.0.1:{port}/api/studies", time.monotonic() + 60)
        return [s["study_name"] for s in found["study_summaries"]]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _check_optunas_tools_open(url: str, printed: str) -> None:
    assert f"-> {url}\n" in printed  # the user's URL, not a rewritten one (+psycopg2)
    assert f"Stored in {url} as 'grid'" in " ".join(printed.split())  # rich wraps it
    listed = subprocess.run([_tool("optuna"), "studies", "--storage", url, "-f", "json"],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert '"grid"' in listed.stdout
    frame = optuna.load_study(study_name="grid", storage=url).trials_dataframe()
    assert len(frame) == 3 and set(frame["state"]) == {"COMPLETE"}  # baseline + 2 choices
    assert "params_optimizer" in frame.columns
    assert _dashboard_lists(url) == ["grid"]


def test_a_plain_postgresql_url_opens_in_optunas_cli_dashboard_and_load_study(tmp_path, pg_url,
                                                                          monkeypatch):
    assert pg_url.startswith("postgresql://")
    _check_optunas_tools_open(pg_url, _run(tmp_path, pg_url, monkeypatch))


def test_a_plain_mysql_url_opens_in_optunas_cli_dashboard_and_load_study(tmp_path, mysql_url,
                                                                      monkeypatch):
    if not HAS_MYSQLCLIENT:  # the test extra alone; .ci/run installs the mysql extra too
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but mysqlclient (ablate[mysql]) is not installed")
        pytest.skip("mysqlclient (ablate[mysql]) is not installed: no plain mysql:// driver")
    assert mysql_url.startswith("mysql://")
    _check_optunas_tools_open(mysql_url, _run(tmp_path, mysql_url, monkeypatch))
