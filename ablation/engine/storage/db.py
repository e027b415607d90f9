"""Our own tables (prefixed ``ablate_``) beside Optuna's, in the same database.

``ablate_points`` is the work list: one row per (configuration, seed) with a state, claimed by a
conditional UPDATE so that any number of workers on any database complete each point exactly once.
``ablate_epochs`` holds per-epoch curves and ``ablate_runs`` the run record of every trial.
``ablate_cross_eval`` holds the cells of cross-dataset matrices (a trained trial tested on
another data set), with their confusion matrices. The statistics' tables (stored predictions,
test labels, the looks of ``--until-resolved``) live in ``engine/storage/evidence.py`` on the same
metadata.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

META = sa.MetaData()
T = TypeVar("T")

POINTS = sa.Table(
    "ablate_points", META,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("study", sa.String(512), nullable=False),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("ordinal", sa.Integer, nullable=False),
    sa.Column("axis", sa.String(128), nullable=False),
    sa.Column("label", sa.String(256), nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("is_baseline", sa.Boolean, nullable=False, default=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False, default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("worker", sa.String(256)),
    sa.Column("trial_number", sa.Integer),
    sa.Column("heartbeat", sa.DateTime),
    sa.UniqueConstraint("study", "key", name="uq_ablate_points_study_key"),
)

EPOCHS = sa.Table(
    "ablate_epochs", META,
    sa.Column("study", sa.String(512), primary_key=True),
    sa.Column("trial_number", sa.Integer, primary_key=True),
    sa.Column("epoch", sa.Integer, primary_key=True),
    sa.Column("train_loss", sa.Float),
    sa.Column("train_accuracy", sa.Float),
    sa.Column("val_loss", sa.Float),
    sa.Column("val_accuracy", sa.Float),
    sa.Column("lr", sa.Float),
    sa.Column("seconds", sa.Float),
)

RUNS = sa.Table(
    "ablate_runs", META,
    sa.Column("study", sa.String(512), primary_key=True),
    sa.Column("trial_number", sa.Integer, primary_key=True),
    sa.Column("point_key", sa.String(64), nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("environment", sa.Text, nullable=False),
    sa.Column("started", sa.DateTime, nullable=False),
    sa.Column("finished", sa.DateTime),
)

CROSS_EVAL = sa.Table(
    "ablate_cross_eval", META,
    sa.Column("study", sa.String(512), primary_key=True),
    sa.Column("trial_number", sa.Integer, primary_key=True),
    sa.Column("test_dataset", sa.String(128), primary_key=True),
    sa.Column("train_dataset", sa.String(128), nullable=False),
    sa.Column("accuracy", sa.Float, nullable=False),
    sa.Column("macro_f1", sa.Float, nullable=False),
    sa.Column("infer_seconds", sa.Float, nullable=False),
    sa.Column("n_images", sa.Integer, nullable=False),
    sa.Column("mapping", sa.String(256), nullable=False),
    sa.Column("classes", sa.Text, nullable=False),  # JSON list of the common classes
    sa.Column("confusion", sa.Text, nullable=False),  # JSON rows = true, columns = predicted
    sa.Column("created", sa.DateTime, nullable=False),
)


@dataclass(frozen=True)
class PointRow:
    """A point as stored: what to train and its scheduling state."""

    id: int
    key: str
    ordinal: int
    axis: str
    label: str
    seed: int
    is_baseline: bool
    params: dict[str, Any]
    config: dict[str, Any]
    state: str
    attempts: int
    trial_number: int | None


def now() -> dt.datetime:
    """UTC now without tzinfo (portable across SQLite, PostgreSQL and MySQL)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


# Errors a database raises when it chose this transaction as a deadlock's victim or could not
# serialise it: MySQL/MariaDB 1213 and 1205, PostgreSQL SQLSTATE 40001 and 40P01 (psycopg 3 calls
# it sqlstate, psycopg2 pgcode). The transaction was rolled back whole, so running it again is safe.
_RETRYABLE_CODES = {1213, 1205}
_RETRYABLE_STATES = {"40001", "40P01"}


def is_deadlock(exc: BaseException) -> bool:
    """Whether ``exc`` says the database rolled a transaction back to break a deadlock."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    orig = exc.orig
    args = getattr(orig, "args", ())
    code = args[0] if args and isinstance(args[0], int) else None
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code in _RETRYABLE_CODES or state in _RETRYABLE_STATES


def retrying(work: Callable[[], T], attempts: int = 5, pause: float = 0.05) -> T:
    """Run the transaction ``work`` again when the database rolls it back as a deadlock's
    victim (InnoDB's gap locks make concurrent delete-then-insert writes collide), with a short
    growing pause; any other error, or the last attempt's deadlock, goes on."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except sa.exc.DBAPIError as exc:
            if attempt == attempts or not is_deadlock(exc):
                raise
            time.sleep(pause * attempt)
    raise AssertionError("unreachable")


def create_tables(engine: Engine) -> None:
    """Create our tables if missing (idempotent, safe beside Optuna's and between workers).

    Workers starting together may race to create them: the loser's CREATE fails because the
    winner's table (or, on PostgreSQL, its row type) now exists, and the re-check finds it.
    """
    from ablation.engine.storage import evidence  # noqa: F401  (puts its tables on META)

    for attempt in range(3):
        try:
            META.create_all(engine, checkfirst=True)
            return
        except (IntegrityError, sa.exc.ProgrammingError, sa.exc.OperationalError):
            if attempt == 2:
                raise
            time.sleep(0.5 * (attempt + 1))


def _row(r: Any) -> PointRow:
    return PointRow(r.id, r.key, r.ordinal, r.axis, r.label, r.seed, bool(r.is_baseline),
                    json.loads(r.params), json.loads(r.config), r.state, r.attempts,
                    r.trial_number)


def add_points(engine: Engine, study: str, points: Iterable[dict[str, Any]]) -> int:
    """Insert the points not stored yet; returns how many were new. Safe under concurrency."""
    wanted = list(points)
    for _attempt in range(3):
        with engine.begin() as conn:
            have = set(conn.scalars(sa.select(POINTS.c.key).where(POINTS.c.study == study)))
            new = [dict(p, study=study, state="pending", attempts=0)
                   for p in wanted if p["key"] not in have]
            if not new:
                return 0
            try:
                conn.execute(POINTS.insert(), new)
                return len(new)
            except IntegrityError:  # another worker inserted some first: re-read and retry
                conn.rollback()
    raise RuntimeError(f"could not register the points of study {study!r}")


def list_points(engine: Engine, study: str) -> list[PointRow]:
    """All points of a study in grid order."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(POINTS).where(POINTS.c.study == study)
                            .order_by(POINTS.c.ordinal, POINTS.c.id))
        return [_row(r) for r in rows]


def claim_point(engine: Engine, study: str, worker: str, stale_before: dt.datetime,
                max_attempts: int = 3) -> PointRow | None:
    """Atomically take the next runnable point, or None when nothing is left to do.

    Runnable: pending; failed with attempts left; or running with a heartbeat older than
    ``stale_before`` (its worker died) and attempts left (a point that kills its worker every
    time must not be retried forever). The UPDATE re-checks the state it read, so two workers
    racing for one row cannot both win: the loser sees rowcount 0 and tries the next.
    """
    runnable = sa.or_(
        POINTS.c.state == "pending",
        sa.and_(POINTS.c.state == "failed", POINTS.c.attempts < max_attempts),
        sa.and_(POINTS.c.state == "running", POINTS.c.heartbeat < stale_before,
                POINTS.c.attempts < max_attempts))
    while True:
        with engine.begin() as conn:
            cand = conn.execute(sa.select(POINTS.c.id, POINTS.c.state, POINTS.c.attempts)
                                .where(POINTS.c.study == study, runnable)
                                .order_by(POINTS.c.ordinal, POINTS.c.id).limit(1)).first()
            if cand is None:
                return None
            done = conn.execute(
                POINTS.update().where(POINTS.c.id == cand.id, POINTS.c.state == cand.state,
                                      POINTS.c.attempts == cand.attempts)
                .values(state="running", worker=worker, heartbeat=now(),
                        attempts=cand.attempts + 1))
            if done.rowcount == 1:
                row = conn.execute(sa.select(POINTS).where(POINTS.c.id == cand.id)).one()
                return _row(row)


def set_point(engine: Engine, point_id: int, state: str, trial_number: int | None = None) -> None:
    """Record a point's new state (done, failed, pending) and the trial that ran it."""
    values: dict[str, Any] = {"state": state}
    if trial_number is not None:
        values["trial_number"] = trial_number
    with engine.begin() as conn:
        conn.execute(POINTS.update().where(POINTS.c.id == point_id).values(**values))


def beat(engine: Engine, point_ids: Sequence[int]) -> None:
    """Refresh the heartbeat of points this worker is running."""
    if point_ids:
        with engine.begin() as conn:
            conn.execute(POINTS.update().where(POINTS.c.id.in_(point_ids),
                                               POINTS.c.state == "running")
                         .values(heartbeat=now()))


def add_epoch(engine: Engine, study: str, trial_number: int, record: dict[str, Any]) -> None:
    """Store one per-epoch record of a trial's learning curve."""
    with engine.begin() as conn:
        conn.execute(EPOCHS.insert().values(study=study, trial_number=trial_number, **record))


def epochs(engine: Engine, study: str) -> list[dict[str, Any]]:
    """All per-epoch records of a study, ordered by trial and epoch."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(EPOCHS).where(EPOCHS.c.study == study)
                            .order_by(EPOCHS.c.trial_number, EPOCHS.c.epoch))
        return [dict(r._mapping) for r in rows]


def start_run(engine: Engine, study: str, trial_number: int, point_key: str, seed: int,
              config: dict[str, Any], environment: dict[str, Any]) -> None:
    """Write the run record of a trial as it starts."""
    with engine.begin() as conn:
        conn.execute(RUNS.insert().values(
            study=study, trial_number=trial_number, point_key=point_key, seed=seed,
            config=json.dumps(config, sort_keys=True),
            environment=json.dumps(environment, sort_keys=True), started=now()))


def finish_run(engine: Engine, study: str, trial_number: int) -> None:
    """Stamp a trial's run record as finished."""
    with engine.begin() as conn:
        conn.execute(RUNS.update().where(RUNS.c.study == study,
                                         RUNS.c.trial_number == trial_number)
                     .values(finished=now()))


def runs(engine: Engine, study: str) -> list[dict[str, Any]]:
    """Run records of a study."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(RUNS).where(RUNS.c.study == study)
                            .order_by(RUNS.c.trial_number))
        return [dict(r._mapping) for r in rows]


def put_cross_cell(engine: Engine, cell: dict[str, Any]) -> None:
    """Store (or replace) one cross-evaluation cell; lists are stored as JSON."""
    row = {k: json.dumps(v) if k in ("classes", "confusion") else v for k, v in cell.items()}
    keys = (CROSS_EVAL.c.study == row["study"], CROSS_EVAL.c.trial_number == row["trial_number"],
            CROSS_EVAL.c.test_dataset == row["test_dataset"])

    def write() -> None:
        with engine.begin() as conn:
            conn.execute(CROSS_EVAL.delete().where(*keys))
            conn.execute(CROSS_EVAL.insert().values(created=now(), **row))

    retrying(write)


def cross_cells(engine: Engine, study: str) -> list[dict[str, Any]]:
    """Stored cross-evaluation cells of a study, classes and confusion decoded."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(CROSS_EVAL).where(CROSS_EVAL.c.study == study)
                            .order_by(CROSS_EVAL.c.trial_number, CROSS_EVAL.c.test_dataset))
        return [dict(r._mapping, classes=json.loads(r.classes),
                     confusion=json.loads(r.confusion)) for r in rows]


def add_running_point(engine: Engine, study: str, row: dict[str, Any], worker: str) -> int:
    """Insert a point already taken by ``worker`` (a sampled search trial's); returns its id.

    A search trial is created by the worker that runs it, so it is never pending: nothing
    else claims it, and a dead worker's trial is failed through its Optuna heartbeat.
    """
    with engine.begin() as conn:
        done = conn.execute(POINTS.insert().values(**row, study=study, state="running",
                                                   attempts=1, worker=worker, heartbeat=now()))
        key = done.inserted_primary_key
        assert key is not None
        return int(key[0])
