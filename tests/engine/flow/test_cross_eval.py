"""ablate cross-eval offline: digits (8x8) and a tiny MNIST (28x28), both 10 digit classes."""

from pathlib import Path

import optuna
import pytest
import torch
from click.testing import CliRunner

from ablation.cli import main
from ablation.data.datasets import DATASETS, DatasetInfo, RawData, load_raw
from ablation.engine.flow.cross_eval import resize
from ablation.engine.results.reader import trial_attrs
from ablation.engine.storage import db
from ablation.engine.storage.store import open_store
from tests.fakes import write_idx


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_resize_is_bilinear_and_keeps_uint8():
    x = torch.full((2, 1, 28, 28), 200, dtype=torch.uint8)
    small = resize(x, (8, 8))
    assert small.shape == (2, 1, 8, 8) and small.dtype == torch.uint8
    assert bool((small == 200).all())  # a flat image stays flat
    ramp = torch.arange(8, dtype=torch.uint8).mul(30).repeat(1, 1, 8, 1)
    big = resize(ramp, (16, 16))
    assert big.shape == (1, 1, 16, 16) and bool((big[..., 1:].int() >= big[..., :-1].int()).all())
    assert resize(x, (28, 28)) is x


def test_cross_eval_digits_and_mnist(tmp_path: Path, storage_url: str):
    data = tmp_path / "data"
    write_idx(data, "", n_train=300, n_test=60, gz=True)
    args = ["cross-eval", "--train", "digits,mnist", "--test", "digits,mnist", "--epochs", "1",
            "--train-limit", "200", "--storage", storage_url, "--data-dir", str(data),
            "--markdown", str(tmp_path / "m.md")]
    res = invoke(*args)
    assert res.exit_code == 0, res.output
    lines = [ln for ln in (tmp_path / "m.md").read_text().splitlines() if ln.startswith("|")]
    assert len(lines) == 2 + 2 and lines[0].count("|") == 4  # 3 columns
    engine = open_store(storage_url).engine
    study = "cross-eval-digits+mnist-resnet-lite-1ep-seed0-limit200"
    cells = {(c["train_dataset"], c["test_dataset"]): c for c in db.cross_cells(engine, study)}
    assert set(cells) == {(a, b) for a in ("digits", "mnist") for b in ("digits", "mnist")}
    sizes = {n: len(load_raw(n, str(data)).test_y) for n in ("digits", "mnist")}
    for (a, b), c in cells.items():
        cm = torch.tensor(c["confusion"])
        assert cm.shape == (10, 10) and int(cm.sum()) == sizes[b] == c["n_images"]
        assert c["accuracy"] == pytest.approx(float(cm.trace()) / sizes[b])
        assert 0 <= c["macro_f1"] <= 1 and c["infer_seconds"] > 0
        assert c["mapping"] == "same names"
        if a == b:  # the diagonal repeats what the trainer measured on its own test split
            stored = trial_attrs(open_store(storage_url), study, c["trial_number"])["test_accuracy"]
            assert c["accuracy"] == pytest.approx(stored)
    # Running again reuses the stored models instead of training new ones.
    assert invoke(*args).exit_code == 0
    trials = optuna.load_study(study_name=study, storage=storage_url).get_trials()
    assert len(trials) == 2 and len(db.cross_cells(engine, study)) == 4


@pytest.fixture
def toy_letters(monkeypatch: pytest.MonkeyPatch) -> str:
    def load(_: Path) -> RawData:
        x = torch.zeros(20, 1, 8, 8, dtype=torch.uint8)
        y = torch.arange(20) % 10
        return RawData(x, y, x, y, tuple("abcdefghij"))

    monkeypatch.setitem(DATASETS._items, "toy-letters", DatasetInfo("toy-letters", load, "test"))
    return "toy-letters"


def test_no_label_mapping_is_exit_2_and_writes_nothing(tmp_path, storage_url, toy_letters):
    res = invoke("cross-eval", "--train", "digits", "--test", f"digits,{toy_letters}",
                 "--epochs", "1", "--storage", storage_url, "--data-dir", str(tmp_path))
    assert res.exit_code == 2
    assert "no label mapping from digits (10 classes) to toy-letters" in res.output
    assert not Path(storage_url.removeprefix("sqlite:///")).exists()


def test_unknown_dataset_is_exit_2(tmp_path, storage_url):
    res = invoke("cross-eval", "--train", "digits", "--test", "nope", "--storage", storage_url,
                 "--data-dir", str(tmp_path))
    assert res.exit_code == 2 and "nope" in res.output
