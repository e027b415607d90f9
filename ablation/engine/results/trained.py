"""Bring a stored trial's model back: its configuration, architecture, weights and inputs.

The trainer normalises images with the mean and std of the training split (training.Batcher)
and does not store them. They are recomputed here from the data set instead: the split is
deterministic (data.SPLIT_SEED, the stored val_fraction and train_limit), so the statistics come
out identical, and nothing about the trainer or stored trials had to change. The cost: the
training data set must be readable where the model is loaded.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import optuna
import torch
from torch import nn

from ablation.compression.artifact import LoadedArtifact, decode
from ablation.config.trainconfig import TrainConfig
from ablation.data.datasets import make_splits
from ablation.engine.storage import db
from ablation.engine.storage.artifact_store import Location, artifact_store
from ablation.engine.storage.schema import has_table
from ablation.engine.storage.store import Store
from ablation.errors import UserError
from ablation.models import build_model
from ablation.training.batches import Batcher
from ablation.training.fit import EVAL_BATCH
from ablation.training.precision import autocast

Normalise = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class LoadedModel:
    """A trained model in eval mode, its configuration, and the input transform it expects."""

    model: nn.Module
    config: TrainConfig
    input_shape: tuple[int, int, int]
    classes: tuple[str, ...]
    normalise: Normalise  # uint8 N x C x H x W -> float tensor as in training
    precision: str = "fp32"  # the precision the trial ran in (its run record says)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted class indices for uint8 images of the training input shape.

        Runs in the trial's precision, as the trainer measured it, so a reloaded model repeats
        the stored test accuracy exactly.
        """
        self.model.eval()
        out = []
        with torch.inference_mode(), autocast(self.precision):
            for i in range(0, len(x), EVAL_BATCH):
                out.append(self.model(self.normalise(x[i:i + EVAL_BATCH])).argmax(1))
        return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def trial_config(store: Store, study_name: str, number: int) -> tuple[TrainConfig, str]:
    """The resolved training configuration a stored trial ran with, and the precision it
    actually ran in (both from its ablate_runs record)."""
    if not has_table(store.engine, db.RUNS.name):  # a study Optuna alone wrote: no records
        raise UserError(f"study {study_name!r} has no run records: it was not run by ablate")
    record = next((r for r in db.runs(store.engine, study_name) if r["trial_number"] == number),
                  None)
    if record is None:
        raise UserError(f"study {study_name!r} has no run record for trial {number}")
    known = {f.name for f in fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in json.loads(record["config"]).items() if k in known})
    return config, _precision_used(config, json.loads(record["environment"] or "{}"))


def _precision_used(config: TrainConfig, env: dict[str, object]) -> str:
    # Records before "precision auto" hold no "precision": "bf16" then ran bf16 only where the
    # run record's bf16_native was true, else fp32.
    if isinstance(env.get("precision"), str):
        return str(env["precision"])
    return "bf16" if config.precision == "bf16" and env.get("bf16_native") else "fp32"


# Optuna names artifacts by uuid4; anything else (a path, "..", a NUL) was not written by it.
_ARTIFACT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def _stored_blob(store: Store, study_name: str, number: int, artifacts_dir: Location,
                 attr: str, what: str) -> tuple[bytes, str]:
    """(bytes, id) of the artifact a complete trial names in user attribute ``attr``, checked
    against its stored SHA-256 where the trial recorded one (``<what>_sha256``)."""
    trial = _complete_trial(store, study_name, number, what)
    artifact_id = trial.user_attrs.get(attr)
    if artifact_id is None:
        why = ("its trainer returned no model" if attr == "weights_artifact"
               else "its configuration writes no artifact")
        raise UserError(f"trial {number} of study {study_name!r} stored no {what} ({why})")
    if not isinstance(artifact_id, str) or not _ARTIFACT_ID.fullmatch(artifact_id):
        raise UserError(f"trial {number} of study {study_name!r}: its {what} id "
                        f"{str(artifact_id)[:80]!r} is not an artifact id (was the database "
                        "edited?)")
    try:
        with artifact_store(artifacts_dir, create=False).open_reader(artifact_id) as f:
            blob = f.read()
    except (OSError, optuna.artifacts.exceptions.ArtifactNotFound):
        raise UserError(f"{what} of trial {number} (artifact {artifact_id}) not found in "
                        f"{artifacts_dir}; pass --artifacts DIR where the study stored them"
                        ) from None
    expected = trial.user_attrs.get(checksum_key(attr))
    if expected is not None and hashlib.sha256(blob).hexdigest() != expected:
        raise UserError(f"{what} of trial {number} (artifact {artifact_id} in {artifacts_dir}) "
                        "fail their SHA-256 checksum: the file was changed or damaged after "
                        "the trial stored it")
    return blob, artifact_id


def checksum_key(attr: str) -> str:
    """The user attribute holding the SHA-256 of the artifact named in ``attr``."""
    return attr.removesuffix("_artifact") + "_sha256"


def _complete_trial(store: Store, study_name: str, number: int,
                    what: str) -> optuna.trial.FrozenTrial:
    study = optuna.load_study(study_name=study_name, storage=store.optuna)
    trial = next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)
    if trial is None:
        raise UserError(f"study {study_name!r} has no trial {number}")
    if trial.state != optuna.trial.TrialState.COMPLETE:
        raise UserError(f"trial {number} of study {study_name!r} is {trial.state.name.lower()}, "
                        f"not complete: it has no {what}")
    return trial


def trial_weights(store: Store, study_name: str, number: int,
                  artifacts_dir: Location) -> dict[str, torch.Tensor]:
    """The final state_dict of a complete trial, read from its Optuna artifact."""
    blob, artifact_id = _stored_blob(store, study_name, number, artifacts_dir,
                                     "weights_artifact", "weights")
    try:
        state = torch.load(io.BytesIO(blob), weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 - truncated, garbage, or not a weights file
        raise UserError(f"weights of trial {number} (artifact {artifact_id} in {artifacts_dir}) "
                        f"are corrupt or not a weights file: {' '.join(str(exc).split())[:160]}"
                        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise UserError(f"weights of trial {number} (artifact {artifact_id} in {artifacts_dir}) "
                        "are not a model's state dict")
    return state


def load_trial_model(store: Store, study_name: str, number: int, artifacts_dir: Location,
                     data_dir: Path) -> LoadedModel:
    """Rebuild trial ``number``'s model with its stored weights and its training normalisation."""
    config, precision = trial_config(store, study_name, number)
    state = trial_weights(store, study_name, number, artifacts_dir)
    data = make_splits(config.dataset, data_dir, config.val_fraction, config.train_limit)
    model = build_model(config.model, data.input_shape, data.n_classes, config.activation,
                        width=config.width, blocks=config.blocks, dropout=config.dropout)
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError) as exc:  # another model's weights
        first = " ".join(str(exc).split())[:200]
        raise UserError(f"weights of trial {number} of study {study_name!r} do not fit its "
                        f"{config.model} model ({first}); was the artifact replaced?") from None
    model.eval()
    batcher = Batcher.for_data(data.train_x, augment=False)
    return LoadedModel(model, config, data.input_shape, data.classes, batcher, precision)


def trial_artifact(store: Store, study_name: str, number: int,
                   artifacts_dir: Location) -> LoadedArtifact:
    """A complete trial's compressed artifact, rebuilt (int8 kernels where the CPU has them).

    Artifacts are looked up by id and told apart by their first bytes, so trials stored as
    ``.ablt`` files before artifacts became safetensors load the same way.
    """
    from ablation.compression.artifact import open_artifact

    blob, artifact_id = _stored_blob(store, study_name, number, artifacts_dir,
                                     "compressed_artifact", "compressed artifact")
    return open_artifact(decode(blob, f"artifact {artifact_id} in {artifacts_dir}"),
                         f"artifact {artifact_id} in {artifacts_dir}")


def load_compressed_model(store: Store, study_name: str, number: int,
                          artifacts_dir: Location) -> LoadedModel:
    """Trial ``number``'s compressed model, ready to predict; needs no data set (the file holds
    its input normalisation)."""
    config, _ = trial_config(store, study_name, number)
    loaded = trial_artifact(store, study_name, number, artifacts_dir)
    meta = loaded.artifact.meta
    shape = tuple(meta["input_shape"])
    mean, std = (torch.tensor(meta[k]).view(1, -1, 1, 1) for k in ("mean", "std"))
    # Files written before classes were recorded name them by index.
    classes = tuple(meta.get("classes") or (str(i) for i in range(meta["n_classes"])))
    return LoadedModel(loaded.model, config, (shape[0], shape[1], shape[2]), classes,
                       Batcher(mean, std, augment=False), "fp32")


KAGGLE_SHAPE = (1, 28, 28)  # Kaggle digit-recognizer: 784 grey pixels, digits 0-9


def predict_kaggle(loaded: LoadedModel, csv_path: Path) -> list[int]:
    """Predicted digit of every row of a Kaggle digit-recognizer test CSV, in file order."""
    from ablation.data.datasets import read_kaggle_csv

    if loaded.input_shape != KAGGLE_SHAPE or len(loaded.classes) != 10:
        raise UserError(f"{csv_path}: Kaggle digit images are 1x28x28 with 10 classes, but the "
                        f"trial's model ({loaded.config.dataset}) takes "
                        f"{'x'.join(map(str, loaded.input_shape))} with {len(loaded.classes)} "
                        "classes")
    x, _ = read_kaggle_csv(csv_path, labelled=False)
    return [int(v) for v in loaded.predict(torch.from_numpy(x))]
