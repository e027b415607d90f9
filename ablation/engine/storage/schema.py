"""What a database holds before Optuna touches it: nothing, another application's tables, or
Optuna's schema of this version, an older or a newer one.

Optuna's RDBStorage creates its tables, stamps its schema version and, for an old schema, stamps
even before refusing it. Looking first (reads only; SQLite opened with mode=ro) lets a reading
command refuse an empty or foreign database, and any command refuse an old or foreign schema,
leaving the file byte for byte as it was.
"""

from __future__ import annotations

import os
import sqlite3
import time
import urllib.parse
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from ablation.engine.storage.connect import seconds
from ablation.errors import UserError

CREATION_LOOKS = 5  # ~7 s in all: longer than creating Optuna's tables takes on any server


@lru_cache(maxsize=1)
def _optuna_schema() -> tuple[frozenset[str], str, tuple[str, ...]]:
    """Optuna's table names, its schema head revision and every revision it knows."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from optuna.storages._rdb import models, storage

    cfg = Config()
    cfg.set_main_option("script_location",
                        os.path.join(os.path.dirname(storage.__file__), "alembic"))
    script = ScriptDirectory.from_config(cfg)
    return (frozenset(models.BaseModel.metadata.tables), str(script.get_current_head()),
            tuple(r.revision for r in script.walk_revisions()))


def _sqlite_contents(path: str) -> tuple[set[str], str | None]:
    uri = f"file:{urllib.parse.quote(os.path.abspath(path))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=seconds("ABLATE_LOCK_TIMEOUT"))
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return tables, _revision(tables, lambda q: conn.execute(q).fetchall())
    finally:
        conn.close()


def _server_contents(url: str, kwargs: dict[str, Any]) -> tuple[set[str], str | None]:
    engine = sa.create_engine(url, **kwargs)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            return tables, _revision(tables, lambda q: list(conn.execute(sa.text(q))))
    finally:
        engine.dispose()


def _revision(tables: set[str], query: Any) -> str | None:
    if "alembic_version" not in tables:
        return None
    rows = query("SELECT version_num FROM alembic_version")
    return str(rows[0][0]) if rows else None


def check_schema(parsed: sa.URL, kwargs: dict[str, Any], read_only: bool, shown: str) -> None:
    """Refuse, before Optuna writes anything, what it must not open (see module docstring)."""
    sqlite = parsed.get_backend_name() == "sqlite"
    path = parsed.database or ""
    if sqlite and (not os.path.isfile(path) or os.path.getsize(path) == 0):
        if read_only:
            raise UserError(f"--storage {shown}: {path} is empty, not a study database; "
                            "run a study first")
        return
    for attempt in range(CREATION_LOOKS):
        tables, revision = (_sqlite_contents(path) if sqlite else _server_contents(
            parsed.render_as_string(hide_password=False), kwargs))
        if not _half_made(tables, revision) or read_only:
            break
        # Another worker may be creating Optuna's tables right now: look again shortly.
        time.sleep(0.5 * (attempt + 1))
    _judge(tables, revision, read_only, sqlite, shown)


def _half_made(tables: set[str], revision: str | None) -> bool:
    known = _optuna_schema()[0]
    return bool(known & tables) and (bool(known - tables) or revision is None)


def _judge(tables: set[str], revision: str | None, read_only: bool, sqlite: bool,
           shown: str) -> None:
    known, head, revisions = _optuna_schema()
    found = known & tables
    if not found:
        if read_only:
            raise UserError(f"--storage {shown}: the database holds no Optuna studies (no "
                            "Optuna tables); run a study first, or check the URL")
        if sqlite and tables:
            raise UserError(f"--storage {shown}: the file holds another application's tables "
                            f"({', '.join(sorted(tables)[:3])}); use a new file for ablate")
        return
    if found != known or revision is None:
        raise UserError(f"--storage {shown}: an incomplete or foreign Optuna schema (missing: "
                        f"{', '.join(sorted((known - found) | ({'alembic_version'} - tables)))})"
                        "; use a database made by Optuna, or a new one")
    if revision == head:
        return
    if revision in revisions:
        raise UserError(f"--storage {shown}: written by an older Optuna (schema {revision}; "
                        f"this Optuna needs {head}); back it up, then run `optuna storage "
                        "upgrade --storage URL`")
    raise UserError(f"--storage {shown}: written by a newer or unknown Optuna (schema "
                    f"{revision}); upgrade optuna (pip install -U optuna)")


def has_table(engine: sa.Engine, table: str) -> bool:
    """True when ``table`` exists (reading commands never create ablate's tables)."""
    return bool(sa.inspect(engine).has_table(table))
