"""Rows of tests/test_bad_input.py added for issue 21 (storage URLs, drivers, SQLite media):
each fails on the code before it (a traceback, a rewritten URL, a wrong or late message)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ablation.engine.storage import schema
from tests.bad_input_cases import _HELD, Case, _done, _study, _unlock
from tests.engine.test_first_start import _half_made_by_ablate


def _half_made(tmp: Path) -> None:
    _study(tmp)
    _half_made_by_ablate(tmp / "half.db")


def _half_made_one_more_look(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """_half_made, with the run looking twice (0.5 s apart) for another worker finishing the
    schema instead of five times (~7.5 s): the waiting is exercised, not its full length."""
    monkeypatch.setattr(schema, "CREATION_LOOKS", 2)
    _half_made(tmp)


def _being_written(tmp: Path) -> None:
    """done.db (WAL) with another process's write transaction open: reading still works, so
    the storage opens, and the first write (a new study) waits for the lock."""
    _done(tmp)
    _study(tmp, 'name = "bad"', 'name = "bigger"')
    conn = sqlite3.connect(tmp / "done.db", isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    _HELD.append(conn)


HALF = ("--storage", "sqlite:///{tmp}/half.db")

STORAGE_CASES: list[Case] = [
    Case("storage", "MariaDB URL without a database",
         ("run", "{tmp}/s.toml", "--storage", "mysql+pymysql://root@127.0.0.1:3306"), 2,
         "names no database; add one after the host", _study),
    Case("storage", "messages show the URL as given (no driver added)",
         ("show", "bad", "--storage", "postgresql://u:hunter2-Sup3r@127.0.0.1:1/db"), 2,
         "--storage postgresql://u:***@127.0.0.1:1/db: cannot open the database",
         absent=("hunter2-Sup3r", "+psycopg")),
    Case("storage", "run while another process writes the SQLite file",
         ("run", "{tmp}/s.toml", "--storage", "sqlite:///{tmp}/done.db"), 2,
         "the database is locked by another process (waited 1 s)", _being_written,
         after=_unlock, env=(("ABLATE_LOCK_TIMEOUT", "1"),)),
    Case("storage", "show after a first start killed midway", ("show", "bad", *HALF), 2,
         "first start on this database was cut short", _half_made, same=("half.db",)),
    Case("storage", "run after a first start killed midway: finished, not refused",
         ("run", "{tmp}/s.toml", *HALF), 0, "All 2 points done", _half_made_one_more_look,
         writes_nothing=False, patches=True),
]
