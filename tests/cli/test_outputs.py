"""Output files: never over a database or an input, never half-written."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

import ablation.cli.outputs as outputs
from ablation.cli.outputs import check_output, write_output
from ablation.errors import UserError


def _db(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    return path


def test_the_study_database_and_its_side_files_are_refused_even_before_they_exist(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    for name in ("a.db", "a.db-wal", "a.db-shm", "a.db-journal"):
        with pytest.raises(UserError, match="that is the study database"):
            check_output(tmp_path / name, url)
    check_output(tmp_path / "a.csv", url)  # anything else is fine


def test_any_sqlite_file_a_hard_link_and_an_input_are_refused(tmp_path):
    db = _db(tmp_path / "other.sqlite")
    with pytest.raises(UserError, match="is an SQLite database"):
        check_output(db)
    os.link(db, tmp_path / "innocent.csv")
    with pytest.raises(UserError, match="is an SQLite database"):
        check_output(tmp_path / "innocent.csv")
    (tmp_path / "in.csv").write_text("x")
    with pytest.raises(UserError, match="that is an input"):
        check_output(tmp_path / "./in.csv", inputs=[tmp_path / "in.csv"])


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt])
def test_a_failed_write_leaves_the_old_file_and_no_part_file(tmp_path, monkeypatch, error):
    target = tmp_path / "out.csv"
    target.write_text("old")
    real_replace = os.replace

    def failing_replace(src, dst):
        raise error

    monkeypatch.setattr(outputs.os, "replace", failing_replace)
    with pytest.raises(UserError if isinstance(error, OSError) else KeyboardInterrupt):
        write_output(target, "new")
    monkeypatch.setattr(outputs.os, "replace", real_replace)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_a_write_is_complete_and_says_so(tmp_path, capsys):
    write_output(tmp_path / "out.csv", "a,b\n")
    assert (tmp_path / "out.csv").read_text() == "a,b\n"
    assert "wrote" in capsys.readouterr().out


def test_a_symlinked_output_writes_its_target_and_keeps_the_link(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "out.csv").write_text("old")
    (tmp_path / "link.csv").symlink_to(tmp_path / "real" / "out.csv")
    write_output(tmp_path / "link.csv", "new", say=False)
    assert (tmp_path / "link.csv").is_symlink()
    assert (tmp_path / "real" / "out.csv").read_text() == "new"
    assert not list(tmp_path.rglob("*.part"))
