"""DATASETS registry: whole data sets in memory as uint8 tensors, split deterministically.

Every builder returns :class:`RawData` (train and test parts, N x C x H x W uint8). The validation
split is carved from the training part with a fixed generator, independent of the trial seed, so
every configuration and seed of a study is selected on the same images; the test part is never used
for selection.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ablation.data.checks import (
    check_labels,
    check_raw,
    check_split_sizes,
    csv_rows,
    read_csv_text,
)
from ablation.errors import UserError
from ablation.registry import Registry

SPLIT_SEED = 20240229  # fixed: the validation split must not move with the trial seed


@dataclass(frozen=True)
class RawData:
    """A data set as loaded: uint8 images N x C x H x W and int64 labels."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]


@dataclass(frozen=True)
class Splits:
    """Train / validation / test tensors ready for the trainer."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Channels, height, width of one image."""
        c, h, w = self.train_x.shape[1:]
        return int(c), int(h), int(w)


@dataclass(frozen=True)
class DatasetInfo:
    """A registered data set: how to load it and where it comes from."""

    name: str
    load: Callable[[Path], RawData]
    source: str
    size: str = ""  # images, classes and shape as published (the loader checks the real ones)


DATASETS: Registry[DatasetInfo] = Registry("dataset")


def dataset(name: str, source: str, size: str = "") -> Callable[[Callable[[Path], RawData]],
                                                                Callable[[Path], RawData]]:
    """Register a loader ``f(data_dir) -> RawData`` under ``name``."""

    def deco(fn: Callable[[Path], RawData]) -> Callable[[Path], RawData]:
        DATASETS.add(name, DatasetInfo(name, fn, source, size))
        return fn

    return deco


def _stratified_cut(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (keep, held) holding out ``fraction`` of every class, deterministically."""
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        held.append(idx[: int(round(len(idx) * fraction))])
    held_idx = np.sort(np.concatenate(held))
    keep_idx = np.setdiff1d(np.arange(len(y)), held_idx)
    return keep_idx, held_idx


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as (images N x 8 x 8 of 0..16 counts, labels), read from the file
    it ships without importing it: ``import sklearn.datasets`` brings scipy and pandas, ~100 MB
    and ~1 s in every worker process (docs/results-speed.md, issue 23)."""
    import importlib.util

    found = importlib.util.find_spec("sklearn")
    for folder in (found.submodule_search_locations or []) if found else []:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            table = np.loadtxt(path, delimiter=",")
            return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits  # another layout: its own loader

    bunch = load_digits()
    return bunch.images, bunch.target.astype(np.int64)


@dataset("digits", "scikit-learn load_digits (real digits, embedded, offline)",
         "1,438 train / 359 test (a fixed stratified 20% held out), 10 classes, 1x8x8")
def _digits(_: Path) -> RawData:
    images, y = _digits_arrays()
    # load_digits pixels are 0..16 counts; scale to the 0..255 range of every other data set.
    x = np.rint(images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    train, test = _stratified_cut(y, 0.2, SPLIT_SEED)  # no official test split: hold out 20%
    return RawData(torch.from_numpy(x[train]), torch.from_numpy(y[train]),
                   torch.from_numpy(x[test]), torch.from_numpy(y[test]),
                   tuple(str(i) for i in range(10)))


def _idx_names(prefix: str) -> list[str]:
    return [f"{prefix}{part}" for part in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")]


def _stage_idx(names: list[str], data_dir: Path, raw: Path, subdir: str) -> bool:
    """Copy IDX files (plain or .gz) found flat in ``data_dir`` (or data_dir/subdir) into ``raw``.

    This lets ``--data-dir`` point at a plain folder of the official files (as in
    ../shared/datasets/mnist) while torchvision still reads them from its own layout.
    """
    for folder in (data_dir, data_dir / subdir):
        found = {}
        for name in names:
            for candidate in (folder / name, folder / f"{name}.gz"):
                if candidate.is_file():
                    found[name] = candidate
                    break
        if len(found) == len(names):
            raw.mkdir(parents=True, exist_ok=True)
            for name, src in found.items():
                tmp = raw / f".{name}.part"
                opener = gzip.open if src.suffix == ".gz" else open
                try:
                    with opener(src, "rb") as fin, open(tmp, "wb") as fout:
                        shutil.copyfileobj(fin, fout)
                except (OSError, EOFError, zlib.error) as exc:  # truncated or corrupt .gz
                    tmp.unlink(missing_ok=True)
                    raise UserError(f"cannot read {src}: {exc} (truncated or corrupt file?)"
                                    ) from None
                tmp.replace(raw / name)
            return True
    return False


def cache_dir_for(data_dir: Path) -> Path:
    """Writable cache for files staged from ``data_dir`` (env ABLATE_CACHE, else ~/.cache)."""
    base = Path(os.environ.get("ABLATE_CACHE", Path.home() / ".cache" / "ablate"))
    tag = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]
    return base / "staged" / tag


def _missing(name: str, where: Path, files: list[str], how: str) -> UserError:
    return UserError(f"{name}: data files not found in {where} (expected {', '.join(files)}); "
                     f"{how}")


def _torchvision_mnist_like(name: str, cls_name: str, data_dir: Path, subdir: str,
                            prefix: str = "", **kwargs: object) -> RawData:
    """Load an MNIST-format data set through torchvision, staging or downloading as needed."""
    import torchvision.datasets as tvd

    cls = getattr(tvd, cls_name)
    names = _idx_names(prefix)
    if prefix:  # EMNIST names its files emnist-<split>-train-..., test instead of t10k
        names = [n.replace("t10k", "test") for n in names]
    root = data_dir
    raw = root / cls_name / "raw"
    if not all((raw / n).is_file() for n in names):
        # A plain folder of the files (maybe read-only, like ../shared) is staged into a cache
        # in torchvision's layout, never written into.
        root = cache_dir_for(data_dir)
        raw = root / cls_name / "raw"
        staged = all((raw / n).is_file() for n in names) or _stage_idx(names, data_dir, raw,
                                                                        subdir)
        if not staged:
            root, raw = data_dir, data_dir / cls_name / "raw"
            _try_download(lambda: cls(str(root), download=True, **kwargs),
                          _missing(name, data_dir, names,
                                   f"download them with network access (ablate fetches them "
                                   f"through torchvision), or copy them into {raw}"),
                          data_dir / cls_name)
    try:
        train, test = (cls(str(root), train=t, download=False, **kwargs) for t in (True, False))
    except (RuntimeError, ValueError, AssertionError, OSError) as exc:
        raise UserError(f"{name}: cannot read the files in {raw}: {exc}") from None
    return RawData(train.data.unsqueeze(1), train.targets.long(), test.data.unsqueeze(1),
                   test.targets.long(), tuple(str(c) for c in train.classes))


def _try_download(fetch: Callable[[], object], missing: UserError, target: Path) -> None:
    """Run a torchvision download quietly; any failure (offline, say) becomes ``missing``.

    Folders the failed attempt created under ``target`` are removed again: nothing half-written.
    """
    fresh = [p for p in (target, *target.parents) if not p.exists()]
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            fetch()
    except Exception:  # noqa: BLE001 - offline, DNS, HTTP, checksum: all mean "not here"
        for folder in fresh:  # deepest first
            shutil.rmtree(folder, ignore_errors=True)
        raise missing from None


@dataset("mnist", "torchvision MNIST (IDX files)",
         "60,000 train / 10,000 test, 10 classes, 1x28x28")
def _mnist(data_dir: Path) -> RawData:
    return _torchvision_mnist_like("mnist", "MNIST", data_dir, "mnist")


@dataset("fashion-mnist", "torchvision FashionMNIST (IDX files)",
         "60,000 train / 10,000 test, 10 classes, 1x28x28")
def _fashion(data_dir: Path) -> RawData:
    return _torchvision_mnist_like("fashion-mnist", "FashionMNIST", data_dir, "fashion-mnist")


@dataset("kmnist", "torchvision KMNIST (IDX files)",
         "60,000 train / 10,000 test, 10 classes, 1x28x28")
def _kmnist(data_dir: Path) -> RawData:
    return _torchvision_mnist_like("kmnist", "KMNIST", data_dir, "kmnist")


def _emnist(split: str) -> Callable[[Path], RawData]:
    def load(data_dir: Path) -> RawData:
        raw = _torchvision_mnist_like(f"emnist-{split}", "EMNIST", data_dir, "emnist",
                                      prefix=f"emnist-{split}-", split=split)
        # EMNIST stores images transposed relative to MNIST; turn them upright so that models
        # trained on one can be tested on the other (study 002's cross-dataset matrix).
        return RawData(raw.train_x.transpose(2, 3).contiguous(), raw.train_y,
                       raw.test_x.transpose(2, 3).contiguous(), raw.test_y, raw.classes)

    return load


# Sizes as published (Cohen et al. 2017, EMNIST), all 1x28x28.
_EMNIST = {"byclass": "697,932 train / 116,323 test, 62 classes",
           "bymerge": "697,932 train / 116,323 test, 47 classes",
           "balanced": "112,800 train / 18,800 test, 47 classes",
           "letters": "124,800 train / 20,800 test, 26 classes",
           "digits": "240,000 train / 40,000 test, 10 classes"}
for _split, _size in _EMNIST.items():
    dataset(f"emnist-{_split}", f"torchvision EMNIST split {_split} (IDX files)",
            f"{_size}, 1x28x28")(_emnist(_split))


@dataset("cifar10", "torchvision CIFAR10 (python pickle batches)",
         "50,000 train / 10,000 test, 10 classes, 3x32x32")
def _cifar10(data_dir: Path) -> RawData:
    import torchvision.datasets as tvd

    folder = data_dir / "cifar-10-batches-py"
    if not folder.is_dir():
        _try_download(lambda: tvd.CIFAR10(str(data_dir), download=True),
                      _missing("cifar10", data_dir, ["cifar-10-batches-py/"],
                               "download it with network access (ablate fetches it through "
                               "torchvision) or unpack cifar-10-python.tar.gz there"),
                      folder)
    try:
        train, test = (tvd.CIFAR10(str(data_dir), train=t, download=False) for t in (True, False))
    except (RuntimeError, OSError, ValueError) as exc:
        raise UserError(f"cifar10: cannot read {folder}: {exc}") from None

    def chw(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2)))

    return RawData(chw(train.data), torch.tensor(train.targets), chw(test.data),
                   torch.tensor(test.targets), tuple(train.classes))


@dataset("kaggle-digits", "Kaggle Digit Recognizer train.csv (label,pixel0..pixel783), study 000",
         "42,000 labelled rows (a sixth held out as test), 10 classes, 1x28x28")
def _kaggle(data_dir: Path) -> RawData:
    path = next((p for p in (data_dir / "train.csv", data_dir / "digit-recognizer" / "train.csv",
                             data_dir) if p.is_file()), None)
    if path is None:
        raise _missing("kaggle-digits", data_dir, ["train.csv"],
                       "download it from Kaggle's 'digit-recognizer' competition")
    x, y = read_kaggle_csv(path, labelled=True)
    # The Kaggle test.csv has no labels; hold out a sixth of train.csv as the test set.
    train, test = _stratified_cut(y, 1 / 6, SPLIT_SEED)
    return RawData(torch.from_numpy(x[train]), torch.from_numpy(y[train]),
                   torch.from_numpy(x[test]), torch.from_numpy(y[test]),
                   tuple(str(i) for i in range(10)))


def read_kaggle_csv(path: Path, labelled: bool) -> tuple[np.ndarray, np.ndarray]:
    """Read a Kaggle digit CSV into (N x 1 x 28 x 28 uint8, labels or empty)."""
    text = read_csv_text(path)
    header = text.split("\n", 1)[0].strip().split(",")
    want = (["label"] if labelled else []) + [f"pixel{i}" for i in range(784)]
    if header != want:
        raise UserError(f"{path}: expected the header {want[0]},{want[1 if labelled else 1]},..."
                        f"pixel783 ({len(want)} columns), got {len(header)} columns "
                        f"starting {','.join(header[:2])[:40]}")
    table = csv_rows(path, text, len(want))
    pixels = table[:, 1:] if labelled else table
    if pixels.size and (pixels.min() < 0 or pixels.max() > 255):
        raise UserError(f"{path}: pixel values must be 0..255")
    x = pixels.astype(np.uint8).reshape(-1, 1, 28, 28)
    y = table[:, 0].astype(np.int64) if labelled else np.empty(0, np.int64)
    if labelled:
        check_labels(y, 10, str(path))
    return x, y


@lru_cache(maxsize=4)
def load_raw(name: str, data_dir: str) -> RawData:
    """Load a registered data set once per process (trials of a study share it); its parts
    are checked (labels, counts, emptiness) before anything trains on them."""
    raw = DATASETS.get(name).load(Path(data_dir))
    check_raw(name, data_dir, raw.train_x, raw.train_y, raw.test_x, raw.test_y,
              len(raw.classes))
    return raw


def make_splits(name: str, data_dir: Path, val_fraction: float, train_limit: int = 0) -> Splits:
    """Train/validation/test tensors for ``name``; the split is the same for every seed."""
    raw = load_raw(name, str(data_dir))
    y = raw.train_y.numpy()
    train, val = _stratified_cut(y, val_fraction, SPLIT_SEED)
    if train_limit:
        train = np.random.default_rng(SPLIT_SEED).permutation(train)[:train_limit]
        train.sort()
    check_split_sizes(name, str(data_dir), len(train), len(val), len(raw.test_y), val_fraction)
    t, v = torch.from_numpy(train), torch.from_numpy(val)
    return Splits(name, raw.train_x[t], raw.train_y[t], raw.train_x[v], raw.train_y[v],
                  raw.test_x, raw.test_y, raw.classes)
