"""Record a finished trial: its metrics (through the typed encoder), its final weights and
confusion matrix as Optuna artifacts, and, where the configuration asks, its compressed artifact
measured after reloading (the compression post-step, called once per trial from here)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from ablation.analysis.records import encode_metrics, metric_values
from ablation.engine.artifact_store import Location, artifact_store
from ablation.engine.space import Point
from ablation.engine.store import Store

if TYPE_CHECKING:
    from ablation.training.fit import FitResult


def _upload(trial: optuna.Trial, store: Store, artifacts_dir: Location, path: Path,
            mimetype: str) -> str:
    return optuna.artifacts.upload_artifact(
        artifact_store=artifact_store(artifacts_dir), file_path=str(path), study_or_trial=trial,
        storage=store.optuna, mimetype=mimetype)


def record_result(trial: optuna.Trial, result: FitResult, artifacts_dir: Location,
                  store: Store) -> dict[str, float | int]:
    """Store the trial's metrics and its weights and confusion matrix; returns the metrics.

    A trainer that keeps no model (``result.model`` None) gets no weights artifact.
    """
    values = encode_metrics(metric_values(result.metrics))
    for key, value in values.items():
        trial.set_user_attr(key, value)
    trial.set_user_attr("confusion", [list(r) for r in result.metrics.confusion])
    trial.set_user_attr("precision", result.precision)
    with tempfile.TemporaryDirectory() as tmp:
        if result.model is not None:
            import torch  # only here, so the record path of a model-less trainer stays light

            path = Path(tmp) / f"trial-{trial.number}-weights.pt"
            torch.save(result.model.state_dict(), path)
            weights = _upload(trial, store, artifacts_dir, path, "application/octet-stream")
            trial.set_user_attr("weights_artifact", weights)
        # The confusion matrix also as a small file, so optuna-dashboard lists it beside the
        # weights (user attributes are not downloadable there).
        cm_path = Path(tmp) / f"trial-{trial.number}-confusion.json"
        cm_path.write_text(json.dumps({"rows": "true class", "columns": "predicted class",
                                       "matrix": [list(r) for r in result.metrics.confusion]}))
        _upload(trial, store, artifacts_dir, cm_path, "application/json")
    return values


def record_compression(trial: optuna.Trial, result: FitResult, point: Point,
                       data_dir: Path, artifacts_dir: Location, store: Store) -> dict[str, Any]:
    """Compress as the configuration says, write the artifact, reload it, score it, keep it."""
    from ablation.compression.evaluate import compress_and_evaluate

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"trial-{trial.number}-{point.config.quantize}.ablt"
        measured = compress_and_evaluate(result, point.config, point.seed, data_dir=data_dir,
                                         path=path)
        artifact_id = _upload(trial, store, artifacts_dir, path, "application/octet-stream")
    values = encode_metrics(metric_values(measured))
    for key, value in values.items():
        trial.set_user_attr(key, value)
    trial.set_user_attr("compressed_artifact", artifact_id)
    return values
