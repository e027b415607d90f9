"""SQLite storage commits without an fsync per transaction (docs/results-speed.md)."""

import sqlalchemy as sa

from ablation.engine.storage.store import open_store


def test_sqlite_store_uses_wal_and_normal_sync(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("PRAGMA synchronous")).scalar() == 1  # NORMAL
