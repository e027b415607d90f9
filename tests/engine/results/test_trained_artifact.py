"""A stored trial's compressed artifact comes back and predicts, old ``.ablt`` uploads too."""

from __future__ import annotations

import pytest
import torch

from ablation.compression import artifact
from ablation.data.datasets import make_splits
from ablation.engine.results.trained import load_compressed_model, trial_artifact
from ablation.engine.storage.store import open_store
from ablation.engine.trials.worker import RunOptions, run_study
from ablation.errors import UserError
from ablation.spec.study import parse_study
from ablation.training.fit import fit
from tests.fakes import write_v1


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    # One study for the module: a plain baseline (no artifact) and one int8 trial.
    tmp = tmp_path_factory.mktemp("trained")
    doc = {"study": {"name": "c8", "seeds": 1},
           "baseline": {"dataset": "digits", "model": "tiny-cnn", "width": 4, "epochs": 1,
                        "batch_size": 64, "train_limit": 300},
           "axes": {"quantize": {"choices": ["int8"]}}}
    url = f"sqlite:///{tmp / 'ablate.db'}"
    run_study(parse_study(doc, "test"), RunOptions(url, tmp / "artifacts", tmp / "data"), fit)
    return open_store(url), tmp / "artifacts"


def test_compressed_trial_predicts_its_stored_accuracy_and_old_files_load(stored, tmp_path):
    import optuna

    store, artifacts = stored
    trials = optuna.load_study(study_name="c8", storage=store.optuna).get_trials()
    trial = next(t for t in trials if t.params.get("quantize") == "int8")
    loaded = load_compressed_model(store, "c8", trial.number, artifacts)
    data = make_splits("digits", tmp_path / "data", loaded.config.val_fraction, 300)
    acc = float((loaded.predict(data.test_x) == data.test_y).float().mean())
    # The file's normalisation is rounded to 6 digits: a rare borderline image may flip.
    stored_acc = trial.user_attrs["artifact_test_accuracy"]
    assert acc == pytest.approx(stored_acc, abs=2 / len(data.test_y))
    assert loaded.classes == tuple(data.classes)
    # A study stored before safetensors holds an ABLT file under the same id: it still loads.
    path = artifacts / trial.user_attrs["compressed_artifact"]
    model = trial_artifact(store, "c8", trial.number, artifacts).reference
    write_v1(path, model, {k: v for k, v in artifact.read(path).meta.items()
                           if k not in ("classes", "config")}, "int8")
    old = trial_artifact(store, "c8", trial.number, artifacts)
    assert old.artifact.version == 1 and old.kernels.startswith("fp32 (dequantized int8)")
    again = load_compressed_model(store, "c8", trial.number, artifacts)
    assert again.classes == tuple(str(i) for i in range(10))
    with torch.inference_mode():  # the same weights as before, now run dequantized in fp32
        expected = model(again.normalise(data.test_x)).argmax(1)
    assert torch.equal(again.predict(data.test_x), expected)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(UserError, match=f"artifact {path.name} in .*not a readable"):
        trial_artifact(store, "c8", trial.number, artifacts)


def test_a_trial_without_a_compressed_artifact_says_so(stored):
    import optuna

    store, artifacts = stored
    trials = optuna.load_study(study_name="c8", storage=store.optuna).get_trials()
    base = next(t for t in trials if t.params.get("quantize") != "int8")
    with pytest.raises(UserError, match="stored no compressed artifact"):
        trial_artifact(store, "c8", base.number, artifacts)
