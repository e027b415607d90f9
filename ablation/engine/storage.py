"""Storage URLs: validate before anything is written, then open Optuna's RDB storage."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from ablation.errors import UserError

DEFAULT_HOME = Path("storage")
DEFAULT_URL = f"sqlite:///{DEFAULT_HOME / 'ablate.db'}"
SQLITE_BUSY_SECONDS = 60  # several local workers wait for the write lock instead of failing

# Heartbeats let a crashed worker's trial be detected: Optuna marks it FAIL after the grace period.
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60


@dataclass(frozen=True)
class Store:
    """An opened storage: Optuna's storage object and the SQLAlchemy engine it uses."""

    url: str
    optuna: optuna.storages.RDBStorage
    engine: Engine


def check_url(url: str) -> sa.URL:
    """Parse a storage URL and load its driver without connecting; errors are UserErrors."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(f"--storage {url!r} is not a database URL; examples: "
                        f"{DEFAULT_URL}, postgresql://user@host/db") from None
    try:
        parsed.get_dialect()
    except NoSuchModuleError:
        raise UserError(f"--storage {url!r}: unknown database scheme {parsed.drivername!r}; "
                        "use sqlite:///FILE, postgresql://... or mysql+pymysql://...") from None
    except ImportError as exc:
        raise UserError(f"--storage {url!r}: the driver for {parsed.drivername!r} is not "
                        f"installed ({exc.name}); install ablate[postgres] or ablate[mysql]"
                        ) from None
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if not db or db == ":memory:":
            raise UserError(f"--storage {url!r}: SQLite needs a file path (sqlite:///FILE)")
        parent = Path(db).parent
        if not parent.is_dir() and parent != DEFAULT_HOME:
            raise UserError(f"--storage {url!r}: directory {parent} does not exist")
        if Path(db).exists() and not _is_sqlite_file(Path(db)):
            raise UserError(f"--storage {url!r}: {db} exists and is not an SQLite database")
    return parsed


def _is_sqlite_file(path: Path) -> bool:
    if path.stat().st_size == 0:
        return True
    with open(path, "rb") as f:
        return f.read(16) == b"SQLite format 3\x00"


def open_store(url: str, must_exist: bool = False) -> Store:
    """Open (creating if needed) Optuna's storage at ``url``; connection failures are UserErrors.

    ``must_exist`` is for commands that only read: they never create an empty database.
    """
    parsed = check_url(url)
    if must_exist and parsed.get_backend_name() == "sqlite" and not Path(
            parsed.database or "").is_file():
        raise UserError(f"--storage {url!r}: no database at {parsed.database}; run a study first")
    kwargs: dict = {}
    if parsed.get_backend_name() == "sqlite":
        Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"connect_args": {"timeout": SQLITE_BUSY_SECONDS}}
    else:
        kwargs = {"pool_pre_ping": True}
    try:
        storage = optuna.storages.RDBStorage(
            url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=GRACE_SECONDS)
    except (SQLAlchemyError, sqlite3.Error) as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise UserError(f"--storage {_redact(parsed)}: cannot open the database: {reason}"
                        ) from None
    if parsed.get_backend_name() == "sqlite":
        _fast_sqlite_commits(storage.engine)
    return Store(url, storage, storage.engine)


def _fast_sqlite_commits(engine: Engine) -> None:
    """Write-ahead log with synchronous=NORMAL on every connection of an SQLite engine.

    In the default rollback-journal mode each commit costs an fsync (~16 ms here), and a trial
    makes ~50 commits (Optuna's per-attribute writes, per-epoch reports, our rows): about a second
    per trial, 25% of a 4-second digits trial (docs/results-engine.md). In WAL mode a commit only
    appends to the log; the database stays consistent after a crash and readers (show, export,
    optuna-dashboard, other workers) are not blocked by the writer.
    """

    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error:  # a read-only file keeps its journal mode; reading still works
            pass
        finally:
            cur.close()

    sa.event.listen(engine, "connect", on_connect)
    engine.dispose()  # connections opened while Optuna set up its tables get the pragmas too


def _redact(url: sa.URL) -> str:
    return url.render_as_string(hide_password=True)


def artifacts_dir_for(url: str, given: Path | None) -> Path:
    """Where trial artifacts go: ``given``, else beside an SQLite file, else storage/artifacts."""
    if given is not None:
        return given
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return Path(parsed.database).parent / "artifacts"
    return DEFAULT_HOME / "artifacts"
