"""Load a stored trial's trained model back: its configuration, the architecture, its weights."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import optuna
import torch
from torch import nn

from ablation.data import make_splits
from ablation.engine.results import run_config, trial_attrs
from ablation.errors import UserError
from ablation.models import build_model
from ablation.spec import TrainConfig


def load_trial_model(storage_url: str, study_name: str, trial_number: int,
                     artifacts_dir: Path, data_dir: Path = Path("storage/datasets"),
                     ) -> tuple[nn.Module, TrainConfig]:
    """The trained model of a complete trial (in eval mode) and the configuration it ran with.

    The architecture is rebuilt from the run record; the data set is read only for its image
    shape and class count, which the model's first and last layers depend on.
    """
    attrs = trial_attrs(storage_url, study_name, trial_number)
    artifact_id = attrs.get("weights_artifact")
    if not artifact_id:
        raise UserError(f"trial {trial_number} of study {study_name!r} has no stored weights "
                        "(it did not complete)")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    stored = run_config(storage_url, study_name, trial_number)
    config = TrainConfig(**{k: v for k, v in stored.items() if k in known})
    data = make_splits(config.dataset, data_dir, config.val_fraction, config.train_limit)
    model = build_model(config.model, data.input_shape, data.n_classes, config.activation,
                        width=config.width, blocks=config.blocks, dropout=config.dropout)
    model.load_state_dict(_read_weights(artifacts_dir, str(artifact_id)))
    return model.eval(), config


def _read_weights(artifacts_dir: Path,
                  artifact_id: str) -> dict[str, torch.Tensor]:
    if not artifacts_dir.is_dir():
        raise UserError(f"artifact directory {artifacts_dir} does not exist; pass --artifacts")
    store = optuna.artifacts.FileSystemArtifactStore(str(artifacts_dir))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights.pt"
        try:
            optuna.artifacts.download_artifact(artifact_store=store, artifact_id=artifact_id,
                                               file_path=str(path))
        except Exception as exc:  # the store raises its own error types for a missing file
            raise UserError(f"cannot read weights artifact {artifact_id} from {artifacts_dir}: "
                            f"{exc}") from None
        return dict(torch.load(path, map_location="cpu", weights_only=True))
