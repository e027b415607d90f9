"""The built-in recipe studies: lightweight-mnist (study 000, cumulative) and kaggle-digits
(Kaggle Digit Recognizer, leave-one-out), listed, valid, and kaggle-digits end to end on CSV
files in the real format, up to the ImageId,Label submission."""

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ablation.cli import main
from ablation.spec.files import load_study
from ablation.spec.study import with_overrides


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_studies_lists_and_validate_accepts_both():
    listed = invoke("studies").output
    for name, design in (("lightweight-mnist", "cumulative"), ("kaggle-digits", "leave-one-out")):
        assert f"{design} recipe: adamw, swa, clip, augment, prune, int8" in [
            line for line in listed.splitlines() if line.startswith(name)][0]
        res = invoke("validate", name)
        assert res.exit_code == 0 and "7 configurations x 3 seeds" in res.output, res.output


def test_lightweight_mnist_is_study_000_in_order_with_bytes_on_every_row():
    spec = load_study("lightweight-mnist")
    assert spec.recipe.names == ("adamw", "swa", "clip", "augment", "prune", "int8")
    assert spec.baseline.artifact and spec.baseline.val_fraction == 0.2
    changes = {c.name: dict(c.changes) for c in spec.recipe.components}
    assert changes["prune"] == {"prune": 0.5, "prune_scope": "conv"}  # study 000: conv layers
    assert changes["int8"] == {"quantize": "int8"}
    short = with_overrides(spec, dataset="digits", epochs=3)  # SWA keeps a share of 3 epochs
    assert dict(short.recipe.components[1].changes)["swa_epochs"] == 1


def write_kaggle(path: Path, rows: int, labelled: bool) -> None:
    """A Kaggle CSV as the competition ships it: a learnable bright row per class."""
    rng = np.random.default_rng(0)
    header = ",".join((["label"] if labelled else []) + [f"pixel{i}" for i in range(784)])
    lines = [header]
    for k in range(rows):
        img = rng.integers(0, 60, (28, 28))
        img[2 * (k % 10) + 3, :] = 255
        pixels = ",".join(str(int(v)) for v in img.ravel())
        lines.append(f"{k % 10},{pixels}" if labelled else pixels)
    path.write_text("\n".join(lines) + "\n")


def test_kaggle_digits_splits_train_csv_as_study_000(tmp_path):
    from ablation.data.datasets import make_splits

    write_kaggle(tmp_path / "train.csv", 600, labelled=True)
    spec = load_study("kaggle-digits")
    data = make_splits(spec.baseline.dataset, tmp_path, spec.baseline.val_fraction)
    assert len(data.test_y) == 100  # a sixth held out: Kaggle's test.csv has no labels
    assert (len(data.train_y), len(data.val_y)) == (400, 100)  # 80/20 of the rest


@pytest.mark.slow  # the full recipe's int8 calibration takes ~40 s on a loaded 2-core machine
def test_kaggle_digits_runs_on_train_csv_and_predict_writes_the_submission(tmp_path):
    write_kaggle(tmp_path / "train.csv", 300, labelled=True)
    write_kaggle(tmp_path / "test.csv", 25, labelled=False)
    url = f"sqlite:///{tmp_path / 'k.db'}"
    common = ["--storage", url, "--artifacts", str(tmp_path / "art")]
    run = invoke("run", "kaggle-digits", "--data-dir", str(tmp_path), "--epochs", "2",
                 "--seeds", "1", "--model", "tiny-cnn", "--max-trials", "1",
                 "--trainer", "tests.fakes:untrained_fit", *common)
    assert run.exit_code == 0, run.output
    for extra in ([], ["--compressed"]):
        out = tmp_path / f"sub{len(extra)}.csv"
        res = invoke("predict", "kaggle-digits", "--trial", "0", "--input",
                     str(tmp_path / "test.csv"), "-o", str(out), "--data-dir", str(tmp_path),
                     *common, *extra)
        assert res.exit_code == 0, res.output
        lines = out.read_text().splitlines()
        assert lines[0] == "ImageId,Label" and len(lines) == 26
        ids, labels = zip(*(map(int, line.split(",")) for line in lines[1:]), strict=True)
        assert list(ids) == list(range(1, 26)) and set(labels) <= set(range(10))
