"""Data sets: the embedded default, torchvision's real file formats, splits, clear errors."""

import pickle

import numpy as np
import pytest
import torch

from ablation.data.datasets import DATASETS, load_raw, make_splits, read_kaggle_csv
from ablation.errors import UserError
from tests.fakes import SHARED_MNIST, write_idx


def test_digits_is_embedded_and_split_deterministically(tmp_path):
    s = make_splits("digits", tmp_path, 0.1)
    assert s.train_x.dtype == torch.uint8 and s.input_shape == (1, 8, 8) and s.n_classes == 10
    assert len(s.train_x) + len(s.val_x) + len(s.test_x) == 1797
    again = make_splits("digits", tmp_path, 0.1)
    assert torch.equal(s.val_y, again.val_y) and torch.equal(s.val_x, again.val_x)
    assert int(s.train_x.max()) == 255  # 0..16 counts scaled to the 0..255 range


def test_train_limit_takes_a_fixed_subset(tmp_path):
    a = make_splits("digits", tmp_path, 0.1, train_limit=100)
    b = make_splits("digits", tmp_path, 0.1, train_limit=100)
    assert len(a.train_x) == 100 and torch.equal(a.train_y, b.train_y)


@pytest.mark.parametrize("layout", ["flat-gz", "torchvision-raw"])
def test_mnist_reads_real_idx_files_through_torchvision(tmp_path, layout):
    if layout == "flat-gz":  # like ../shared/datasets/mnist: the official .gz files in a folder
        write_idx(tmp_path / "mnist", "", 60, 20, gz=True)
    else:  # torchvision's own layout, uncompressed
        write_idx(tmp_path / "MNIST" / "raw", "", 60, 20, gz=False)
    load_raw.cache_clear()
    raw = load_raw("mnist", str(tmp_path))
    assert raw.train_x.shape == (60, 1, 28, 28) and raw.test_x.shape == (20, 1, 28, 28)
    assert raw.train_y[:10].tolist() == list(range(10))
    assert (raw.train_x[3, 0, 3] == 255).all()  # the stripe the writer put on row = label
    assert not (tmp_path / "mnist" / "MNIST").exists()  # the source folder is never written


@pytest.mark.parametrize("name", ["fashion-mnist", "kmnist"])
def test_other_mnist_format_sets_read_through_torchvision(tmp_path, name):
    write_idx(tmp_path / name, "", 30, 10, gz=True)
    load_raw.cache_clear()
    assert load_raw(name, str(tmp_path)).train_x.shape == (30, 1, 28, 28)


def test_emnist_split_is_read_and_turned_upright(tmp_path):
    write_idx(tmp_path / "emnist", "emnist-balanced-", 47, 47, gz=True, test_word="test",
              n_classes=20)
    load_raw.cache_clear()
    raw = load_raw("emnist-balanced", str(tmp_path))
    assert len(raw.classes) == 47 and raw.train_x.shape == (47, 1, 28, 28)
    # the writer drew a row stripe; EMNIST files are transposed, so upright it is a column
    assert (raw.train_x[5, 0, :, 5] == 255).all()


def test_cifar10_reads_python_batches(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
                 "labels": [0, 1, 2, 3]}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps(
        {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                         "horse", "ship", "truck"]}))
    # The real files are checked against their published MD5s; ours cannot match them.
    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *a, **k: True)
    monkeypatch.setattr(tvd.CIFAR10, "_check_integrity", lambda self: True)
    load_raw.cache_clear()
    raw = load_raw("cifar10", str(tmp_path))
    assert raw.train_x.shape == (20, 3, 32, 32) and raw.test_x.shape == (4, 3, 32, 32)
    assert raw.classes[0] == "airplane"


def test_kaggle_csv_round_trip(tmp_path):
    rows = ["label," + ",".join(f"pixel{i}" for i in range(784))]
    for k in range(60):
        rows.append(f"{k % 10}," + ",".join(str((k + i) % 256) for i in range(784)))
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    load_raw.cache_clear()
    raw = load_raw("kaggle-digits", str(tmp_path))
    assert len(raw.train_x) + len(raw.test_x) == 60 and raw.train_x.shape[1:] == (1, 28, 28)


def test_kaggle_csv_with_wrong_header_names_the_file(tmp_path):
    (tmp_path / "train.csv").write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match="train.csv: expected the header"):
        read_kaggle_csv(tmp_path / "train.csv", labelled=True)


@pytest.mark.parametrize("name", [n for n in DATASETS.names() if n != "digits"])
def test_missing_files_offline_give_one_clear_line(tmp_path, name):
    load_raw.cache_clear()
    with pytest.raises(UserError) as info:
        load_raw(name, str(tmp_path / "nothing-here"))
    msg = str(info.value)
    assert "\n" not in msg and "nothing-here" in msg and "expected" in msg
    assert not (tmp_path / "nothing-here").exists()  # a failed download leaves nothing behind


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="../shared/datasets/mnist not present")
def test_shared_mnist_subset_is_read(tmp_path):
    load_raw.cache_clear()
    raw = load_raw("mnist", str(SHARED_MNIST))
    assert raw.train_x.shape == (23797, 1, 28, 28) and raw.test_x.shape == (10000, 1, 28, 28)
    counts = torch.bincount(raw.train_y, minlength=10).tolist()
    assert counts == [2361, 2706, 2326, 2466, 2330, 2118, 2353, 2470, 2275, 2392]
