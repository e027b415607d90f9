"""ablate predict: a stored trial's model writes a Kaggle digit-recognizer submission."""

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from ablation.cli import main
from ablation.data.datasets import load_raw, make_splits
from ablation.engine.results.reader import trial_attrs
from ablation.engine.results.trained import load_trial_model
from ablation.engine.storage.store import open_store
from tests.fakes import KAGGLE_STUDY, write_idx, write_kaggle_test


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_predict_writes_submission_equal_to_direct_predictions(tmp_path, stored):
    storage, data = stored
    test_x = load_raw("mnist", str(data)).test_x[:25]
    write_kaggle_test(tmp_path / "test.csv", test_x.numpy())
    out = tmp_path / "submission.csv"
    res = invoke("predict", "kaggle", "--trial", "0", "--input", str(tmp_path / "test.csv"),
                 "-o", str(out), "--storage", storage, "--data-dir", str(data))
    assert res.exit_code == 0, res.output
    lines = out.read_text().splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == 1 + 25
    rows = list(csv.DictReader(out.open()))
    assert [int(r["ImageId"]) for r in rows] == list(range(1, 26))
    labels = [int(r["Label"]) for r in rows]
    assert all(0 <= y <= 9 for y in labels)
    # The same model, normalised by hand with the training split's statistics.
    arts = Path(storage.removeprefix("sqlite:///")).parent / "artifacts"
    loaded = load_trial_model(open_store(storage), "kaggle", 0, arts, data)
    train = make_splits("mnist", data, 0.1, 200).train_x.float() / 255
    xf = (test_x.float() / 255 - train.mean()) / train.std()
    with torch.inference_mode():
        direct = loaded.model.eval()(xf).argmax(1).tolist()
    assert labels == direct


def test_loaded_model_reproduces_the_stored_test_accuracy(stored):
    storage, data = stored
    arts = Path(storage.removeprefix("sqlite:///")).parent / "artifacts"
    loaded = load_trial_model(open_store(storage), "kaggle", 0, arts, data)
    raw = load_raw("mnist", str(data))
    acc = float((loaded.predict(raw.test_x) == raw.test_y).float().mean())
    assert acc == pytest.approx(trial_attrs(open_store(storage), "kaggle", 0)["test_accuracy"])


def test_predict_user_errors(tmp_path, stored):
    storage, data = stored
    good = tmp_path / "test.csv"
    write_kaggle_test(good, np.zeros((2, 28, 28), np.uint8))
    base = ["--input", str(good), "-o", str(tmp_path / "s.csv"), "--storage", storage,
            "--data-dir", str(data)]
    missing = invoke("predict", "kaggle", "--trial", "7", *base)
    assert missing.exit_code == 2 and "no run record for trial 7" in missing.output
    bad = tmp_path / "bad.csv"
    bad.write_text("label,pixel0\n1,2\n")
    wrong = invoke("predict", "kaggle", "--trial", "0", *base[:1], str(bad), *base[2:])
    assert wrong.exit_code == 2 and "pixel783" in wrong.output
    nowhere = invoke("predict", "kaggle", "--trial", "0", *base, "--artifacts",
                     str(tmp_path / "none"))
    assert nowhere.exit_code == 2 and "not found" in nowhere.output
    assert not (tmp_path / "s.csv").exists()


def test_predict_refuses_a_model_of_another_input_shape(tmp_path, storage_url):
    study = tmp_path / "digits.toml"
    study.write_text(KAGGLE_STUDY.format(dataset="digits").replace('"kaggle"', '"small"'))
    assert invoke("run", str(study), "--storage", storage_url,
                  "--data-dir", str(tmp_path)).exit_code == 0
    csv_in = tmp_path / "test.csv"
    write_kaggle_test(csv_in, np.zeros((1, 28, 28), np.uint8))
    res = invoke("predict", "small", "--trial", "0", "--input", str(csv_in), "-o",
                 str(tmp_path / "s.csv"), "--storage", storage_url, "--data-dir", str(tmp_path))
    assert res.exit_code == 2 and "1x8x8" in res.output


def test_predict_compressed_uses_the_stored_int8_artifact_without_the_data_set(
        tmp_path, storage_url):
    from ablation.engine.results.trained import load_compressed_model

    data = tmp_path / "data"
    write_idx(data, "", n_train=300, n_test=60, gz=True)
    study = tmp_path / "int8.toml"
    study.write_text(KAGGLE_STUDY.replace('"kaggle"', '"k8"').format(dataset="mnist")
                     .replace('choices = ["nadam"]', 'choices = ["nadam"]\n[axes.quantize]\n'
                              'choices = ["int8"]'))
    res = invoke("run", str(study), "--storage", storage_url, "--data-dir", str(data))
    assert res.exit_code == 0, res.output
    store = open_store(storage_url)
    arts = Path(storage_url.removeprefix("sqlite:///")).parent / "artifacts"
    number = next(n for n in range(2) if trial_attrs(store, "k8", n).get("compressed_artifact"))
    test_x = load_raw("mnist", str(data)).test_x[:20]
    write_kaggle_test(tmp_path / "test.csv", test_x.numpy())
    out = tmp_path / "sub.csv"
    args = ["predict", "k8", "--trial", str(number), "--input", str(tmp_path / "test.csv"),
            "--storage", storage_url, "--data-dir", str(tmp_path / "no-data-here")]
    res = invoke(*args, "-o", str(out), "--compressed")
    assert res.exit_code == 0, res.output
    labels = [int(r["Label"]) for r in csv.DictReader(out.open())]
    want = load_compressed_model(store, "k8", number, arts).predict(test_x).tolist()
    assert labels == want and len(labels) == 20
    on_gpu = invoke(*args, "-o", str(tmp_path / "gpu.csv"), "--compressed", "--device", "cuda")
    assert on_gpu.exit_code == 2 and "--compressed runs on the CPU" in on_gpu.output
    plain = 1 - number  # the baseline: trained in fp32, no compressed artifact
    none = invoke(*args[:3], str(plain), *args[4:], "-o", str(tmp_path / "n.csv"),
                  "--compressed")
    assert none.exit_code == 2 and "compressed artifact" in none.output
    assert not (tmp_path / "gpu.csv").exists() and not (tmp_path / "n.csv").exists()
