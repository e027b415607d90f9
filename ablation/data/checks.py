"""Checks of data as it is read: a data set's files must hold what training assumes.

Every loaded data set is checked once (labels within 0..n-1, as many labels as images, no empty
part), and every split a study will train on is checked before its first trial is stored, so a
bad file is one clear line naming the file or folder, never a trial that fails (or, worse,
completes with accuracy 0) on an empty test set.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from ablation.errors import UserError

MAX_CSV_BYTES = 2 << 30  # 2 GiB: far above Kaggle's 73 MB train.csv, far below "a disk image"


def check_raw(name: str, where: str, train_x: torch.Tensor, train_y: torch.Tensor,
              test_x: torch.Tensor, test_y: torch.Tensor, n_classes: int) -> None:
    """Images and labels of both parts of a loaded data set agree and are usable."""
    for part, x, y in (("training", train_x, train_y), ("test", test_x, test_y)):
        at = f"{name}: the {part} part in {where}"
        if x.dim() != 4 or x.dtype != torch.uint8 or min(x.shape[1:]) < 1:
            raise UserError(f"{at}: images must be N x C x H x W bytes, got "
                            f"{tuple(x.shape)} {x.dtype}")
        if len(x) != len(y):
            raise UserError(f"{at} has {len(x)} images but {len(y)} labels; the image and "
                            "label files must come from the same release")
        if len(y) == 0:
            raise UserError(f"{at} holds no images")
        check_labels(y, n_classes, at)


def check_labels(y: torch.Tensor | np.ndarray, n_classes: int, where: str) -> None:
    """Every label is a class index 0..n_classes-1; the first bad one is named with its row."""
    labels = torch.as_tensor(y)
    bad = ((labels < 0) | (labels >= n_classes)).nonzero()
    if len(bad):
        row = int(bad[0, 0])
        raise UserError(f"{where}: label {int(labels[row])} at row {row} is not a class "
                        f"(labels are 0..{n_classes - 1})")


def check_split_sizes(name: str, where: str, train: int, val: int, test: int,
                      val_fraction: float) -> None:
    """A study trains on a non-empty training split, selects on a non-empty validation split
    (when it asks for one) and reports on a non-empty test split."""
    for part, n, wanted in (("training", train, True), ("validation", val, val_fraction > 0),
                            ("test", test, True)):
        if wanted and n == 0:
            raise UserError(f"{name}: the {part} split of the data in {where} is empty "
                            f"({train} training, {val} validation, {test} test images); give "
                            "more data or change val_fraction/train_limit")


def read_csv_text(path: Path) -> str:
    """A CSV file's text: UTF-8 without a byte-order mark, or a one-line UserError."""
    try:
        size = path.stat().st_size
        if size > MAX_CSV_BYTES:
            raise UserError(f"{path}: {size} bytes; a digit CSV is at most {MAX_CSV_BYTES}")
        blob = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    if blob.startswith(b"\xef\xbb\xbf"):
        raise UserError(f"{path}: starts with a byte-order mark (BOM); save it as plain UTF-8 "
                        "CSV without BOM")
    try:
        return blob.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte 0x{blob[exc.start]:02x} at offset "
                        f"{exc.start})") from None


def csv_rows(path: Path, text: str, columns: int) -> np.ndarray:
    """The integer rows under the header line, N x ``columns``; no rows is an error."""
    body = text.split("\n", 1)[1] if "\n" in text else ""
    if not body.strip():
        raise UserError(f"{path}: no data rows under the header")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # empty lines; the row count is checked below
            table = np.loadtxt(body.splitlines(), delimiter=",", dtype=np.int64, ndmin=2)
    except (ValueError, OverflowError) as exc:
        raise UserError(f"{path}: malformed row: {str(exc).splitlines()[0]}") from None
    if table.shape[1] != columns:
        raise UserError(f"{path}: rows have {table.shape[1]} columns; the header has {columns}")
    if len(table) == 0:
        raise UserError(f"{path}: no data rows under the header")
    return table
