"""A trial's attributes, artifacts' records and per-epoch values written in one transaction.

Optuna's RDBStorage commits once per ``set_user_attr``, per artifact and per ``report``: a
10-epoch trial of the quick start made 62 commits, most of them one user attribute each (~16 ms
each on SQLite before WAL, docs/results-engine.md; a round trip each on a server). Here the same
rows are written through Optuna's own per-dialect upserts, in one session and one commit, so
``optuna.load_study``, ``Trial.user_attrs``, the artifact listing and optuna-dashboard read
exactly what the one-by-one calls wrote. Where this Optuna has not the private helpers used
(they are checked once), every value goes through the public one-by-one calls instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy as sa

from ablation.engine.storage.artifact_store import Location, artifact_store
from ablation.engine.storage.store import Store

try:  # Optuna's own upsert helpers, used as RDBStorage.set_trial_user_attr uses them
    from optuna.storages._rdb import models as _models
    from optuna.storages._rdb.storage import _create_scoped_session
except ImportError:  # pragma: no cover - another Optuna layout: the public calls
    _models = None  # type: ignore[assignment]


def _batched(storage: Any) -> bool:
    return (_models is not None and isinstance(storage, optuna.storages.RDBStorage)
            and hasattr(storage, "_set_trial_attr_without_commit")
            and hasattr(storage, "_set_trial_intermediate_value_without_commit"))


class DeferredArtifacts:
    """Stands in for the storage of ``optuna.artifacts.upload_artifact``: the file is written
    to the artifact store at once, its record (a trial system attribute) kept for the batch."""

    def __init__(self) -> None:
        self.system_attrs: dict[str, Any] = {}

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        """Keep the artifact's record for the trial's one transaction."""
        self.system_attrs[key] = value

    def upload(self, trial: optuna.Trial, artifacts_dir: Location, path: Path,
               mimetype: str) -> str:
        """Write ``path`` as an artifact of ``trial``; returns its id (recorded later)."""
        return optuna.artifacts.upload_artifact(
            artifact_store=artifact_store(artifacts_dir), file_path=str(path),
            study_or_trial=trial, storage=self, mimetype=mimetype)  # type: ignore[arg-type]


def write_attrs(store: Store, trial: optuna.Trial, user: Mapping[str, Any],
                system: Mapping[str, Any] | None = None) -> None:
    """Set ``trial``'s user (and system) attributes in one transaction."""
    system = system or {}
    if not _batched(store.optuna):
        for key, value in user.items():
            trial.set_user_attr(key, value)
        for key, value in system.items():
            store.optuna.set_trial_system_attr(trial._trial_id, key, value)
        return
    json.dumps([dict(user), dict(system)])  # a value JSON cannot hold fails before writing
    with _create_scoped_session(store.optuna.scoped_session, True) as session:
        for model, attrs in ((_models.TrialUserAttributeModel, user),
                             (_models.TrialSystemAttributeModel, system)):
            for key, value in attrs.items():
                store.optuna._set_trial_attr_without_commit(session, model, trial._trial_id,
                                                            key, value)
    cached = trial._cached_frozen_trial  # what Trial.set_user_attr keeps in step too
    cached.user_attrs.update(user)
    cached.system_attrs.update(system)


def write_epoch(store: Store, trial: optuna.Trial, table: sa.Table, row: Mapping[str, Any],
                step: int, value: float | None) -> None:
    """One epoch in one transaction: its row of ``table`` and, unless ``value`` is None, the
    trial's intermediate value at ``step`` (what Trial.report writes, for pruners and the
    dashboard's curves)."""
    if not _batched(store.optuna):
        with store.engine.begin() as conn:
            conn.execute(table.insert().values(**row))
        if value is not None:
            trial.report(value, step)
        return
    if value is not None and step in trial._cached_frozen_trial.intermediate_values:
        value = None  # reported already: Trial.report ignores it too
    with _create_scoped_session(store.optuna.scoped_session) as session:
        session.execute(table.insert().values(**row))
        if value is not None:
            store.optuna._set_trial_intermediate_value_without_commit(
                session, trial._trial_id, step, float(value))
    if value is not None:
        trial._cached_frozen_trial.intermediate_values[step] = float(value)
