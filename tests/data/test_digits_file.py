"""digits read from scikit-learn's shipped file, without importing scikit-learn: the same
images and labels as its own loader."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from ablation.data.datasets import _digits_arrays


def test_the_file_gives_what_load_digits_gives() -> None:
    from sklearn.datasets import load_digits

    images, labels = _digits_arrays()
    bunch = load_digits()
    assert np.array_equal(images, bunch.images) and np.array_equal(labels, bunch.target)


def test_loading_digits_imports_no_sklearn() -> None:
    code = ("import sys; from ablation.data.datasets import load_raw; "
            "load_raw('digits', '.'); print('sklearn' in sys.modules, 'pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]
