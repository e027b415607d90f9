"""How ablate connects to a database: timeouts on every server URL, read-only sessions for the
commands that only read, and one clear line for every way a connection can fail.

A silent host must not hang a command: PostgreSQL gets libpq's ``connect_timeout`` and a
server-side ``statement_timeout``; MySQL/MariaDB the driver's connect, read and write timeouts;
SQLite a busy timeout (how long to wait for another process's lock). A URL that sets one of these
itself keeps its own value. Defaults may be changed through the environment:
ABLATE_CONNECT_TIMEOUT (seconds, default 10), ABLATE_STATEMENT_TIMEOUT (default 300) and
ABLATE_LOCK_TIMEOUT (SQLite, default 60).
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from typing import Any

import sqlalchemy as sa

from ablation.engine.storage.redaction import scrub

DEFAULTS = {"ABLATE_CONNECT_TIMEOUT": 10, "ABLATE_STATEMENT_TIMEOUT": 300,
            "ABLATE_LOCK_TIMEOUT": 60}


def seconds(name: str) -> int:
    """A timeout from the environment (a positive integer), else its default."""
    raw = os.environ.get(name, "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULTS[name]


def engine_kwargs(parsed: sa.URL, read_only: bool) -> dict[str, Any]:
    """Keyword arguments for ``create_engine`` (through Optuna's RDBStorage) for ``parsed``."""
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        busy = seconds("ABLATE_LOCK_TIMEOUT")
        if not read_only:
            return {"connect_args": {"timeout": busy}}
        uri = sqlite_read_uri(parsed.database or "")

        def creator() -> sqlite3.Connection:
            return sqlite3.connect(uri, uri=True, timeout=busy, check_same_thread=False)

        return {"creator": creator}
    if backend == "postgresql":
        return {"pool_pre_ping": True, "connect_args": _postgres_args(parsed, read_only)}
    if backend in ("mysql", "mariadb"):
        return {"pool_pre_ping": True, "connect_args": _mysql_args(parsed, read_only)}
    return {"pool_pre_ping": True}


def sqlite_read_uri(database: str) -> str:
    """The URI a reading command opens an SQLite file with: mode=ro, so the file is never
    written (nor created); on a read-only medium also immutable=1.

    Why immutable: a file ablate wrote is in WAL mode, and a WAL reader must create the -shm
    index beside it, which a read-only directory refuses ("unable to open database file").
    Nothing can write there either, so the file cannot change under the reader; but a non-empty
    -wal (a writer's last commits, not yet merged) must be read, so it keeps the normal path.
    """
    path = os.path.abspath(database)
    uri = f"file:{urllib.parse.quote(path)}?mode=ro"
    wal = f"{path}-wal"
    if not os.access(os.path.dirname(path), os.W_OK) and not (
            os.path.exists(wal) and os.path.getsize(wal) > 0):
        uri += "&immutable=1"
    return uri


def _postgres_args(parsed: sa.URL, read_only: bool) -> dict[str, Any]:
    query = dict(parsed.query)
    args: dict[str, Any] = {}
    if "connect_timeout" not in query:  # libpq waits 2 s at least, whatever it is told
        args["connect_timeout"] = max(2, seconds("ABLATE_CONNECT_TIMEOUT"))
    options = str(query.get("options", ""))
    extra = []
    if "statement_timeout" not in options:
        extra.append(f"-c statement_timeout={1000 * seconds('ABLATE_STATEMENT_TIMEOUT')}")
    if read_only:
        extra.append("-c default_transaction_read_only=on")
    if extra:  # connect_args replace the URL's options: keep the URL's (search_path, ...)
        args["options"] = " ".join([options, *extra]).strip()
    return args


def _mysql_args(parsed: sa.URL, read_only: bool) -> dict[str, Any]:
    query = dict(parsed.query)
    args: dict[str, Any] = {}
    # PyMySQL waits for the server's greeting with the *read* timeout, so that one starts at
    # the connect timeout; _widen_read_timeout sets the statement timeout once connected.
    # mysqlclient (plain mysql://) bounds the greeting by connect_timeout alone.
    read = "ABLATE_CONNECT_TIMEOUT" if parsed.get_driver_name() == "pymysql" else \
        "ABLATE_STATEMENT_TIMEOUT"
    for key, name in (("connect_timeout", "ABLATE_CONNECT_TIMEOUT"),
                      ("read_timeout", read),
                      ("write_timeout", "ABLATE_STATEMENT_TIMEOUT")):
        if key not in query:
            args[key] = seconds(name)
    if read_only and "init_command" not in query:
        args["init_command"] = "SET SESSION TRANSACTION READ ONLY"
    return args


@sa.event.listens_for(sa.engine.Engine, "connect")
def _widen_read_timeout(dbapi_conn: Any, _record: Any) -> None:
    """A PyMySQL connection made with our connect-time read timeout gets the statement one."""
    if not type(dbapi_conn).__module__.startswith("pymysql"):
        return
    sock = getattr(dbapi_conn, "_sock", None)
    if getattr(dbapi_conn, "_read_timeout", None) == seconds("ABLATE_CONNECT_TIMEOUT") and sock:
        dbapi_conn._read_timeout = seconds("ABLATE_STATEMENT_TIMEOUT")
        sock.settimeout(dbapi_conn._read_timeout)


def _database_cause(exc: BaseException) -> BaseException:
    """The database's own error behind ``exc``: Optuna wraps a failed commit (a lock, a full
    disk) in a StorageInternalError whose text blames "invalid data ... exceeding max length"."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            break
        if database_error(seen):
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc


def first_line(exc: BaseException) -> str:
    """The driver's own first line of an error (SQLAlchemy wraps it), credentials scrubbed."""
    exc = _database_cause(exc)
    inner = getattr(exc, "orig", None) or exc
    lines = str(inner).strip().splitlines() or [type(inner).__name__]
    return scrub(lines[0].strip())


def describe(exc: BaseException, where: str) -> str:
    """One line for a database error: what happened to ``where`` and what to do."""
    reason = first_line(exc)
    low = reason.lower()
    if "locked" in low:
        return (f"{where}: the database is locked by another process (waited "
                f"{seconds('ABLATE_LOCK_TIMEOUT')} s); stop the other command or try again")
    if "disk is full" in low or "no space left" in low:
        return f"{where}: disk full while writing the database ({reason}); free space and re-run"
    if any(t in low for t in ("due to statement timeout", "max_execution_time exceeded",
                              "query execution was interrupted")):
        return (f"{where}: a query ran longer than {seconds('ABLATE_STATEMENT_TIMEOUT')} s "
                "(statement timeout); is the server overloaded?")
    if "timeout expired" in low or "timed out" in low:
        return (f"{where}: no answer from the database server within "
                f"{seconds('ABLATE_CONNECT_TIMEOUT')} s ({reason}); is the host up and the "
                "port right?")
    if "readonly" in low or "read-only" in low or "read only" in low:
        return f"{where}: the database is read-only here ({reason})"
    return f"{where}: {reason}"


def database_error(exc: BaseException) -> bool:
    """True for a failure of the database or the connection to it (lost, locked, full, timed
    out), as opposed to a statement ablate got wrong."""
    return isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError
                      | sqlite3.OperationalError)
