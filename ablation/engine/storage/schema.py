"""What a database holds before Optuna touches it: nothing, another application's tables, or
Optuna's schema of this version, an older or a newer one.

Optuna's RDBStorage creates its tables, stamps its schema version and, for an old schema, stamps
even before refusing it. Looking first (reads only; SQLite opened with mode=ro) lets a reading
command refuse an empty or foreign database, and any command refuse an old or foreign schema,
leaving the file byte for byte as it was.

A first start is made safe to kill: ablate creates its own ``ablate_`` tables before Optuna's,
so a database holding them beside a half-made Optuna schema (tables without a schema version,
left by a start killed midway) is one ablate began; a writing command finishes it (Optuna
creates what is missing and stamps the version) instead of refusing it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from ablation.engine.storage.connect import seconds, sqlite_read_uri
from ablation.errors import UserError

CREATION_LOOKS = 5  # ~7 s in all: longer than creating Optuna's tables takes on any server
ABLATE_MARK = "ablate_points"  # made first by a first start (engine/db.py), before Optuna's



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
    conn = sqlite3.connect(sqlite_read_uri(path), uri=True, timeout=seconds("ABLATE_LOCK_TIMEOUT"))
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


def check_schema(parsed: sa.URL, kwargs: dict[str, Any], read_only: bool, shown: str) -> bool:
    """Refuse, before Optuna writes anything, what it must not open (see module docstring);
    True when Optuna's schema is still to be made (a new database or a first start of ablate's
    that was cut short)."""
    sqlite = parsed.get_backend_name() == "sqlite"
    path = parsed.database or ""
    if sqlite and (not os.path.isfile(path) or os.path.getsize(path) == 0):
        if read_only:
            raise UserError(f"--storage {shown}: {path} is empty, not a study database; "
                            "run a study first")
        return True
    for attempt in range(CREATION_LOOKS):
        tables, revision = (_sqlite_contents(path) if sqlite else _server_contents(
            parsed.render_as_string(hide_password=False), kwargs))
        if not _half_made(tables, revision) or read_only:
            break
        # Another worker may be creating Optuna's tables right now: look again shortly.
        time.sleep(0.5 * (attempt + 1))
    if _half_made(tables, revision) and ABLATE_MARK in tables:
        if read_only:
            raise UserError(f"--storage {shown}: ablate's first start on this database was cut "
                            "short (Optuna's schema is half made); run the study again to "
                            "finish it")
        return True  # ablate's own first start, killed midway: Optuna finishes it
    # ablate's own tables alone are a first start cut short before Optuna's: not foreign.
    _judge({t for t in tables if not t.startswith("ablate_")}, revision, read_only, sqlite,
           shown)
    return not (_optuna_schema()[0] & tables)


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
