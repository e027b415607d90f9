"""engine/trial_writes.py: one commit per trial's attributes and per epoch, read back by Optuna
and optuna-dashboard exactly as the one-by-one calls wrote them."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import sqlalchemy as sa

from ablation.engine.options import RunOptions
from ablation.engine.storage import db
from ablation.engine.storage.store import Store, open_store
from ablation.engine.trials.trial_writes import DeferredArtifacts, write_attrs, write_epoch
from ablation.engine.trials.worker import run_study
from tests.fakes import make_spec, sleep_fit


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'w.db'}")


def _commits(engine: sa.engine.Engine) -> Iterator[list[int]]:
    seen = [0]

    def count(_conn: object) -> None:
        seen[0] += 1

    sa.event.listen(engine, "commit", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "commit", count)


def test_attributes_and_artifact_records_are_one_commit_and_read_back(
        store: Store, tmp_path: Path) -> None:
    study = optuna.create_study(storage=store.optuna, study_name="s")
    trial = study.ask()
    blob = tmp_path / "w.bin"
    blob.write_bytes(b"weights")
    files = DeferredArtifacts()
    artifact_id = files.upload(trial, tmp_path / "art", blob, "application/octet-stream")
    attrs = {"test_accuracy": 0.5, "confusion": [[1, 0], [0, 1]], "label": "adam"}
    gen = _commits(store.engine)
    counted = next(gen)
    write_attrs(store, trial, {**attrs, "weights_artifact": artifact_id}, files.system_attrs)
    gen.close()
    assert counted == [1]
    assert trial.user_attrs["label"] == "adam"  # the in-process trial sees them too
    study.tell(trial, 0.5)
    stored = optuna.load_study(study_name="s", storage=store.optuna).trials[0]
    assert stored.user_attrs == {**attrs, "weights_artifact": artifact_id}
    metas = optuna.artifacts.get_all_artifact_meta(stored, storage=store.optuna)
    assert [(m.artifact_id, m.filename) for m in metas] == [(artifact_id, "w.bin")]
    with optuna.artifacts.FileSystemArtifactStore(str(tmp_path / "art")).open_reader(
            artifact_id) as f:
        assert f.read() == b"weights"


def test_an_attribute_json_cannot_hold_writes_nothing(store: Store) -> None:
    study = optuna.create_study(storage=store.optuna, study_name="s")
    trial = study.ask()
    with pytest.raises(TypeError):
        write_attrs(store, trial, {"ok": 1, "bad": object()})
    assert optuna.load_study(study_name="s", storage=store.optuna).trials[0].user_attrs == {}


def test_an_epoch_row_and_its_intermediate_value_are_one_commit(store: Store) -> None:
    db.create_tables(store.engine)
    study = optuna.create_study(storage=store.optuna, study_name="s",
                                pruner=optuna.pruners.MedianPruner(n_warmup_steps=0))
    trial = study.ask()
    row = {"study": "s", "trial_number": trial.number, "epoch": 1, "train_loss": 0.3,
           "train_accuracy": 0.9, "val_loss": 0.4, "val_accuracy": 0.8, "lr": 0.1,
           "seconds": 1.0}
    gen = _commits(store.engine)
    counted = next(gen)
    write_epoch(store, trial, db.EPOCHS, row, 1, 0.8)
    write_epoch(store, trial, db.EPOCHS, {**row, "epoch": 2}, 2, None)  # no metric: row only
    gen.close()
    assert counted == [2]
    assert not trial.should_prune()  # the pruner reads what was written
    assert optuna.load_study(study_name="s", storage=store.optuna).trials[0] \
        .intermediate_values == {1: 0.8}
    assert [r["epoch"] for r in db.epochs(store.engine, "s")] == [1, 2]


def _dashboard_get(storage: optuna.storages.BaseStorage, path: str) -> dict:
    from optuna_dashboard import wsgi

    app = wsgi(storage)
    out: list[str] = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "after=0",
               "SERVER_NAME": "t", "SERVER_PORT": "80", "wsgi.input": io.BytesIO(),
               "wsgi.errors": sys.stderr, "wsgi.url_scheme": "http"}
    body = b"".join(app(environ, lambda status, headers, *exc: out.append(status)))
    assert out[0].startswith("200"), out
    return json.loads(body)


def test_a_study_run_is_read_by_optuna_dashboard(store: Store, tmp_path: Path) -> None:
    spec = make_spec(seeds=1, choices=("sgd", "adam"), epochs=3)
    options = RunOptions(store.url, tmp_path / "art", tmp_path, 1)
    assert run_study(spec, options, sleep_fit, None, store).ran == 3  # with the baseline
    study_id = store.optuna.get_study_id_from_name(spec.storage_name)
    detail = _dashboard_get(store.optuna, f"/api/studies/{study_id}")
    trials = detail["trials"]
    assert len(trials) == 3 and all(t["state"] == "Complete" for t in trials)
    for t in trials:
        keys = {a["key"] for a in t["user_attrs"]}
        assert {"label", "seed", "test_accuracy", "confusion", "precision"} <= keys
        assert [v["step"] for v in t["intermediate_values"]] == [1, 2, 3]
        assert sorted(a["filename"] for a in t["artifacts"]) == [
            f"trial-{t['number']}-confusion.json", f"trial-{t['number']}-weights.pt"]
