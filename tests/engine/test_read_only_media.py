"""Reading commands work on a read-only medium (issue 21: a study database ablate wrote is in
WAL mode, and its reader failed with "unable to open database file" where it could not create
the -shm index beside it)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from ablation.cli import main
from ablation.engine.storage.connect import sqlite_read_uri
from ablation.engine.trials.worker import RunOptions, run_study
from tests.fakes import FakeFit, make_spec


@contextlib.contextmanager
def read_only_folder(tmp_path: Path) -> Iterator[tuple[Path, Callable[[], None]]]:
    """A folder and the function that makes it read-only: a tmpfs remounted read-only (root,
    whom file modes do not stop), else a folder without write permission."""
    folder = tmp_path / "medium"
    folder.mkdir()
    if os.geteuid() != 0:
        yield folder, lambda: folder.chmod(0o555)
        folder.chmod(0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(folder)],
                      capture_output=True).returncode != 0:
        pytest.skip("root, but cannot mount a tmpfs to make read-only")
    try:
        yield folder, lambda: subprocess.run(["mount", "-o", "remount,ro", str(folder)],
                                             check=True)
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)  # lazy: pooled files


def test_show_and_export_read_a_wal_database_on_a_read_only_medium(tmp_path):
    with read_only_folder(tmp_path) as (folder, freeze):
        made = tmp_path / "made.db"
        run_study(make_spec(seeds=1), RunOptions(f"sqlite:///{made}", tmp_path / "art",
                                                 tmp_path), FakeFit())
        with contextlib.closing(sqlite3.connect(made)) as conn:  # the file alone holds it all
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        shutil.copy(made, folder / "study.db")
        url = f"sqlite:///{folder / 'study.db'}"
        freeze()
        assert not os.access(folder, os.W_OK)
        assert "immutable=1" in sqlite_read_uri(str(folder / "study.db"))
        shown = CliRunner().invoke(main, ["show", "opt", "--storage", url])
        assert shown.exit_code == 0, shown.output
        assert "adam" in shown.output and "nadam" in shown.output
        out = tmp_path / "o.csv"
        exported = CliRunner().invoke(main, ["export", "opt", "--csv", str(out), "--storage",
                                             url])
        assert exported.exit_code == 0, exported.output
        assert len(out.read_text().splitlines()) >= 4  # header + 3 cells


def test_a_writable_folder_keeps_the_ordinary_read_only_open(tmp_path):
    assert sqlite_read_uri(str(tmp_path / "a.db")).endswith("?mode=ro")
