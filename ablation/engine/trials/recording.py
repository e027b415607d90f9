"""Record a finished trial: its metrics (through the typed encoder), its final weights and
confusion matrix as Optuna artifacts, its predicted test labels (``ablate_predictions``), and,
where the configuration asks, its compressed artifact measured after reloading (the compression
post-step, called once per trial from here)."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna

from ablation.analysis.metrics import TEST, VAL
from ablation.analysis.predcodec import predictions_to_bytes
from ablation.analysis.records import encode_metrics, metric_values
from ablation.engine.storage import evidence
from ablation.engine.storage.artifact_store import Location
from ablation.engine.storage.store import Store
from ablation.engine.trials.trial_writes import DeferredArtifacts, write_attrs
from ablation.spec.space import Point

if TYPE_CHECKING:
    from ablation.training.fit import FitResult


def record_result(trial: optuna.Trial, result: FitResult, artifacts_dir: Location,
                  store: Store) -> dict[str, float | int]:
    """Store the trial's metrics and its weights and confusion matrix; returns the metrics.

    The attributes and the artifacts' records go in one transaction (engine/trial_writes.py).
    A trainer that keeps no model (``result.model`` None) gets no weights artifact.
    """
    values = encode_metrics(metric_values(result.metrics))
    attrs: dict[str, Any] = {**values,
                             "confusion": [list(r) for r in result.metrics.confusion],
                             "precision": result.precision,
                             # FitResults of old trainers have no device
                             "device": getattr(result, "device", "cpu")}
    if result.data is not None:  # the report states the data sizes behind every figure
        # keyed by METRICS' split names: a metric's default margin reads its split's size
        attrs["data_sizes"] = {"train": len(result.data.train_y),
                               VAL: len(result.data.val_y), TEST: len(result.data.test_y)}
    files = DeferredArtifacts()
    with tempfile.TemporaryDirectory() as tmp:
        if result.model is not None:
            import torch  # only here, so the record path of a model-less trainer stays light

            path = Path(tmp) / f"trial-{trial.number}-weights.pt"
            torch.save(result.model.state_dict(), path)
            attrs["weights_artifact"] = files.upload(trial, artifacts_dir, path,
                                                     "application/octet-stream")
            # torch.load checks no data: a changed byte in a tensor would load silently.
            attrs["weights_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        # The confusion matrix also as a small file, so optuna-dashboard lists it beside the
        # weights (user attributes are not downloadable there).
        cm_path = Path(tmp) / f"trial-{trial.number}-confusion.json"
        cm_path.write_text(json.dumps({"rows": "true class", "columns": "predicted class",
                                       "matrix": [list(r) for r in result.metrics.confusion]}))
        files.upload(trial, artifacts_dir, cm_path, "application/json")
    write_attrs(store, trial, attrs, files.system_attrs)
    record_predictions(trial, result, store)
    return values


def _vector(x: Any) -> np.ndarray:
    """A 1-D int64 array from a tensor (on any device), an array or a list."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.int64).ravel()


def record_predictions(trial: optuna.Trial, result: FitResult, store: Store) -> None:
    """Store the predicted test labels, when the trainer handed them back with the true ones
    (a table, not a user attribute: 10,000 labels take ~5 KB, and MySQL's TEXT stops at 64 KB)."""
    if result.predictions is None or result.labels is None:
        return
    pred, true = _vector(result.predictions), _vector(result.labels)
    if pred.shape != true.shape:
        raise ValueError(f"{pred.size} predictions for {true.size} test labels")
    evidence.put_predictions(store.engine, trial.study.study_name, trial.number,
                             predictions_to_bytes(pred), predictions_to_bytes(true), int(true.size))


def record_compression(trial: optuna.Trial, result: FitResult, point: Point,
                       data_dir: Path, artifacts_dir: Location, store: Store) -> dict[str, Any]:
    """Compress as the configuration says, write the artifact, reload it, score it, keep it."""
    from ablation.compression.evaluate import compress_and_evaluate

    with tempfile.TemporaryDirectory() as tmp:
        # The file name is what optuna-dashboard shows; readers look artifacts up by id and
        # tell the format by its first bytes, so trials stored as ".ablt" still load.
        path = Path(tmp) / f"trial-{trial.number}-{point.config.quantize}.safetensors"
        measured = compress_and_evaluate(result, point.config, point.seed, data_dir=data_dir,
                                         path=path)
        files = DeferredArtifacts()
        artifact_id = files.upload(trial, artifacts_dir, path, "application/octet-stream")
    values = encode_metrics(metric_values(measured))
    # the kernels: the path its figures ran on
    write_attrs(store, trial, {**values, "compressed_artifact": artifact_id,
                               "artifact_kernels": measured.kernels}, files.system_attrs)
    return values
