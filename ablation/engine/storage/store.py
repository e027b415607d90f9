"""Storage URLs: validate before anything is written, then open Optuna's RDB storage."""

from __future__ import annotations

import os
import random
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    IntegrityError,
    NoSuchModuleError,
    ProgrammingError,
    SQLAlchemyError,
)

from ablation.engine.storage.connect import describe, engine_kwargs, first_line
from ablation.engine.storage.redaction import redact, remember, scrub
from ablation.engine.storage.redaction import shown_url as _shown_url
from ablation.engine.storage.schema import check_schema
from ablation.errors import UserError

DEFAULT_HOME = Path("storage")
DEFAULT_URL = f"sqlite:///{DEFAULT_HOME / 'ablate.db'}"

# Heartbeats let a crashed worker's trial be detected: Optuna marks it FAIL after the grace period.
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60


def heartbeat_for(grace_seconds: int) -> int:
    """Heartbeat interval for a grace period: at least three beats fit in one grace period."""
    return max(1, min(HEARTBEAT_SECONDS, grace_seconds // 3))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers (status polls, heartbeats' reads, the dashboard) go on while one worker
    # writes, so several local workers wait less for the lock; see docs/workers.md for figures.
    # ABLATE_SQLITE_JOURNAL=delete restores SQLite's default (for the measurement only).
    # synchronous=NORMAL: in WAL mode a commit then appends to the log without an fsync (~16 ms
    # each here, ~50 commits a trial; docs/results-engine.md), and the database stays consistent
    # after a crash. A read-only file keeps its journal mode; reading it still works.
    mode = os.environ.get("ABLATE_SQLITE_JOURNAL", "wal")
    cur = dbapi_conn.cursor()
    try:
        cur.execute(f"PRAGMA journal_mode={'delete' if mode == 'delete' else 'wal'}")
        cur.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error:
        pass
    finally:
        cur.close()


@dataclass(frozen=True)
class Store:
    """An opened storage: Optuna's storage object and the SQLAlchemy engine it uses."""

    url: str
    optuna: optuna.storages.RDBStorage
    engine: Engine
    grace_seconds: int = GRACE_SECONDS
    heartbeat_seconds: int = HEARTBEAT_SECONDS


def check_url(url: str) -> sa.URL:
    """Parse a storage URL and load its driver without connecting; errors are UserErrors."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        hint = f" ({exc})" if isinstance(exc, ValueError) else ""
        raise UserError(f"--storage {_shown_url(url)!r} is not a database URL{hint}; examples: "
                        f"{DEFAULT_URL}, postgresql://user@host/db") from None
    remember(parsed)
    # The URL is kept as given (no driver is chosen for it), so that Optuna's own tools open
    # the URL ablate prints; messages never show a password.
    url = _redact(parsed)
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        raise UserError(f"--storage {url!r}: port {parsed.port} is not a TCP port (1-65535)")
    try:
        parsed.get_dialect().import_dbapi()
    except NoSuchModuleError:
        raise UserError(f"--storage {url!r}: unknown database scheme {parsed.drivername!r}; "
                        "use sqlite:///FILE, postgresql://... or mysql://...") from None
    except ImportError as exc:
        raise UserError(f"--storage {url!r}: the driver for {parsed.drivername!r} is not "
                        f"installed ({exc.name}); install ablate[postgres] (psycopg 3) or "
                        "ablate[mysql] (mysqlclient), or name an installed driver "
                        "(postgresql+psycopg2://, mysql+pymysql://)") from None
    _check_server(parsed, url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if not db or db == ":memory:":
            raise UserError(f"--storage {url!r}: SQLite needs a file path (sqlite:///FILE)")
        parent = Path(db).parent
        if not parent.is_dir() and parent != DEFAULT_HOME:
            raise UserError(f"--storage {url!r}: directory {parent} does not exist")
        if Path(db).is_dir():
            raise UserError(f"--storage {url!r}: {db} is a directory, not a database file")
        if Path(db).exists() and not _is_sqlite_file(Path(db)):
            raise UserError(f"--storage {url!r}: {db} exists and is not an SQLite database")
    return parsed


# A URL names its database on a server: without one, MySQL's drivers fail inside SQLAlchemy.
_NEEDS_DATABASE = ("mysql", "mariadb")


def _check_server(parsed: sa.URL, url: str) -> None:
    if parsed.get_backend_name() in _NEEDS_DATABASE and not parsed.database:
        raise UserError(f"--storage {url!r}: names no database; add one after the host "
                        f"({parsed.drivername}://USER@HOST:PORT/DATABASE)")


def _is_sqlite_file(path: Path) -> bool:
    if path.stat().st_size == 0:
        return True
    with open(path, "rb") as f:
        return f.read(16) == b"SQLite format 3\x00"


def open_store(url: str, must_exist: bool = False, grace_seconds: int = GRACE_SECONDS,
               read_only: bool | None = None) -> Store:
    """Open (creating if needed) Optuna's storage at ``url``; connection failures are UserErrors.

    ``must_exist`` is for commands that only read: they never create an empty database, and
    open it read-only (``read_only`` defaults to ``must_exist``): no table is ever created and
    an empty, foreign or old-schema database is refused with its bytes untouched.
    ``grace_seconds``: a running trial whose heartbeat is older than this counts as dead.
    """
    parsed = check_url(url)
    read_only = must_exist if read_only is None else read_only
    shown = _redact(parsed)
    sqlite_db = parsed.get_backend_name() == "sqlite"
    if must_exist and sqlite_db and not Path(parsed.database or "").is_file():
        raise UserError(f"--storage {shown}: no database at {parsed.database}; run a study first")
    kwargs = engine_kwargs(parsed, read_only)
    beat = heartbeat_for(grace_seconds)
    try:
        first_start = check_schema(parsed, kwargs, read_only, shown)
        if sqlite_db:
            Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
        if first_start and not read_only:
            _ablate_tables_first(parsed.render_as_string(hide_password=False), kwargs)
        storage = _rdb_storage(parsed.render_as_string(hide_password=False), kwargs, beat,
                               grace_seconds, read_only)
    except UserError:
        raise
    except (SQLAlchemyError, sqlite3.Error) as exc:
        raise UserError(describe(exc, f"--storage {shown}: cannot open the database")
                        ) from None
    except RuntimeError as exc:  # Optuna's schema check (an old or unknown schema)
        raise UserError(f"--storage {shown}: {scrub(str(exc))}") from None
    except Exception as exc:  # noqa: BLE001 - a driver refusing a URL parameter (?charset=x)
        raise UserError(f"--storage {shown}: cannot open the database: "
                        f"{type(exc).__name__}: {first_line(exc)}") from None
    if sqlite_db and not read_only:
        # Optuna made its engine (and a pooled connection) already: start the pool over so
        # that every connection, the first included, gets the pragmas.
        sa.event.listen(storage.engine, "connect", _sqlite_pragmas)
        storage.engine.dispose()
    return Store(url, storage, storage.engine, grace_seconds, beat)


def _ablate_tables_first(url: str, kwargs: dict[str, Any]) -> None:
    """ablate's tables before Optuna's: they mark a half-made schema as a first start of
    ablate's, which the next start finishes (engine/schema.py)."""
    from ablation.engine.storage import db

    engine = sa.create_engine(url, **kwargs)
    try:
        db.create_tables(engine)
    finally:
        engine.dispose()


def _rdb_storage(url: str, kwargs: dict, beat: int, grace: int,
                 read_only: bool = False) -> optuna.storages.RDBStorage:
    # Workers starting together on a new PostgreSQL database race to create Optuna's tables;
    # the loser's CREATE fails on the catalog's unique index and succeeds on a second look.
    for attempt in range(4):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=beat,
                                              grace_period=grace, skip_table_creation=read_only)
        except (IntegrityError, ProgrammingError):
            if attempt == 3:
                raise
            time.sleep(0.5 + random.random())
    raise AssertionError("unreachable")


def _redact(url: sa.URL) -> str:
    return redact(url)


def shown_url(url: str) -> str:
    """``url`` as it may be shown (messages, logs, reports): its password masked."""
    return _shown_url(url)


def artifacts_dir_for(url: str, given: Path | str | None) -> Path | str:
    """Where trial artifacts go: ``given`` (a folder or an s3:// URL), else beside an SQLite
    file, else storage/artifacts."""
    if given is not None:
        return given
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return Path(parsed.database).parent / "artifacts"
    return DEFAULT_HOME / "artifacts"
