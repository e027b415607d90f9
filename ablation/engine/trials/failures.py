"""Why a trial failed, whether trying again can help, and what a point's failures add up to.

Two kinds of failure, and a bounded number of attempts for both:

- configuration: the point fails the same way every time (training diverged to NaN, a metric
  the configuration cannot produce, a shape error, a bug in a custom trainer). Its point is
  failed for good at once, with the reason stored on the trial (user attribute ``failure``).
- infrastructure: the machine, not the point (out of memory, a killed worker, a lost database
  connection, an I/O error). Its point is retried, up to MAX_ATTEMPTS attempts in all.

Ctrl-C/SIGTERM and user-fixable trouble (disk full) are neither: the point goes back to
pending without using up an attempt. ``show`` and ``run`` report points failed for good with
their reasons, and ``run``/``worker`` then exit 1 (``--retry-failed`` tries them again).
"""

from __future__ import annotations

import errno
import traceback
from collections.abc import Sequence
from dataclasses import dataclass

import optuna
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ablation.analysis.records import cell_name
from ablation.engine.storage import db
from ablation.engine.storage.redaction import scrub
from ablation.errors import UserError

MAX_ATTEMPTS = 3  # db.claim_point's default: a point is tried at most this often
CONFIGURATION, INFRASTRUCTURE = "configuration", "infrastructure"
# RuntimeError texts that come from the machine, not from the configuration.
_INFRA_TEXT = ("out of memory", "cuda error", "nccl", "cudnn_status_alloc", "killed",
               "timed out", "connection", "resource temporarily unavailable", "bus error")
_INFRA_ERRNO = {errno.ENOSPC, errno.EIO, errno.ENOMEM, errno.EDQUOT, errno.ESTALE,
                errno.ETIMEDOUT, errno.ECONNRESET, errno.EPIPE}


class Diverged(Exception):
    """Training produced a non-finite loss or study metric: the configuration diverged."""


class MissingMetric(Exception):
    """The study's metric is not among what the trial recorded."""


class TrialsFailed(Exception):
    """Points of a study failed for good; the command reports them and exits 1."""


def classify(exc: BaseException) -> str:
    """CONFIGURATION or INFRASTRUCTURE (see the module docstring)."""
    if isinstance(exc, MemoryError | ConnectionError | TimeoutError | sa.exc.OperationalError
                  | sa.exc.InterfaceError):
        return INFRASTRUCTURE
    if isinstance(exc, OSError):
        return INFRASTRUCTURE if exc.errno in _INFRA_ERRNO or exc.errno is None else CONFIGURATION
    if isinstance(exc, RuntimeError) and any(t in str(exc).lower() for t in _INFRA_TEXT):
        return INFRASTRUCTURE
    return CONFIGURATION


def reason(exc: BaseException) -> str:
    """One line saying what went wrong, without credentials: ``Kind: first line``."""
    lines = [s.strip() for s in str(exc).splitlines() if s.strip()]
    return scrub(f"{type(exc).__name__}: {lines[0] if lines else 'no message'}")[:300]


def stops_the_worker(exc: BaseException) -> bool:
    """Failures after which this worker stops instead of taking the next point: Ctrl-C,
    SIGTERM, a user-fixable problem (disk full), or a database it can no longer reach."""
    return isinstance(exc, KeyboardInterrupt | SystemExit | UserError | sa.exc.OperationalError
                      | sa.exc.InterfaceError) or disk_full(exc) is not None


def disk_full(exc: BaseException) -> UserError | None:
    """A full disk or quota, or a folder ablate may not write (read-only, permissions), while
    storing a trial: the user's to fix, so the point goes back to pending and the run stops with
    exit 2 (as for a checkpoint)."""
    if not isinstance(exc, OSError):
        return None
    where = f" {exc.filename}" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return UserError(f"disk full while writing{where}: {exc.strerror}; free space and run "
                         "the same command again")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return UserError(f"cannot write{where}: {exc.strerror}; give ablate a writable "
                         "--artifacts folder and run the same command again")
    return None


def short_traceback(exc: BaseException) -> str:
    """The last frames of ``exc``'s traceback (kept on the trial for whoever debugs it)."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=-6))
    return scrub(text)[-2000:]


def _update(engine: Engine, point_id: int, **values: object) -> None:
    with engine.begin() as conn:
        conn.execute(db.POINTS.update().where(db.POINTS.c.id == point_id).values(**values))


def release(engine: Engine, point_id: int, trial_number: int | None) -> None:
    """Back to pending, the attempt not counted (interrupted, or stopped on a user error)."""
    more = {} if trial_number is None else {"trial_number": trial_number}
    _update(engine, point_id, state="pending", **more,
            attempts=sa.case((db.POINTS.c.attempts > 0, db.POINTS.c.attempts - 1), else_=0))


def give_up(engine: Engine, point_id: int, trial_number: int) -> None:
    """Failed for good: a configuration failure is not retried."""
    _update(engine, point_id, state="failed", trial_number=trial_number, attempts=MAX_ATTEMPTS)


def retry_later(engine: Engine, point_id: int, trial_number: int) -> None:
    """Failed, to be retried while attempts are left."""
    _update(engine, point_id, state="failed", trial_number=trial_number)


def retry_failed(engine: Engine, studies: Sequence[str]) -> int:
    """Put every failed point of ``studies`` back to pending with fresh attempts."""
    db.create_tables(engine)
    with engine.begin() as conn:
        done = conn.execute(db.POINTS.update().where(db.POINTS.c.study.in_(list(studies)),
                                                     db.POINTS.c.state == "failed")
                            .values(state="pending", attempts=0))
        return int(done.rowcount or 0)


@dataclass(frozen=True)
class FailedPoint:
    """A point that will not run again: what it is, how often it ran, and why it failed."""

    axis: str
    label: str
    seed: int
    attempts: int
    reason: str


def failed_for_good(storage: optuna.storages.BaseStorage, engine: Engine,
                    name: str) -> list[FailedPoint]:
    """The points of study ``name`` that failed and have no attempt left, with reasons."""
    from ablation.engine.storage.schema import has_table

    if not has_table(engine, db.POINTS.name):  # a database Optuna alone wrote
        return []
    rows = [r for r in db.list_points(engine, name)
            if r.state == "failed" and r.attempts >= MAX_ATTEMPTS]
    if not rows:
        return []
    study = optuna.load_study(study_name=name, storage=storage)
    why = {t.number: str(t.user_attrs.get("failure", "no reason recorded"))
           for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,))}
    return [FailedPoint(r.axis, r.label, r.seed, r.attempts,
                        why.get(-1 if r.trial_number is None else r.trial_number,
                                "no reason recorded")) for r in rows]


def failures_text(name: str, failed: Sequence[FailedPoint]) -> str:
    """One line: how many points failed for good, and the reasons with the points they hit."""
    by_reason: dict[str, list[str]] = {}
    for f in failed:
        by_reason.setdefault(f.reason, []).append(f"{cell_name(f.axis, f.label)} seed={f.seed}")
    parts = [f"{why} ({', '.join(points[:3])}{' ...' if len(points) > 3 else ''})"
             for why, points in list(by_reason.items())[:3]]
    more = f"; and {len(by_reason) - 3} other reason(s)" if len(by_reason) > 3 else ""
    return (f"study {name}: {len(failed)} trial(s) failed for good: {'; '.join(parts)}{more}; "
            "fix the cause and run again with --retry-failed")
