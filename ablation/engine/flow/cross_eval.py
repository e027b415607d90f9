"""Cross-dataset matrix (study 002, Table 8): train one model per data set, test it on each.

Training goes through the normal engine as one stored study whose only axis is the data set, so
models are resumable and visible like any other trial. Each (trained, tested) cell is then
measured from the stored weights and written to ``ablate_cross_eval`` with its confusion matrix.

Test images of another size are resized to the model's input size with bilinear interpolation
(antialiased when shrinking, so 28x28 -> 8x8 averages instead of skipping pixels), rounded back
to uint8, and then normalised with the training split's statistics, as in training.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from ablation.analysis.classification import accuracy, confusion_matrix, macro_f1
from ablation.data.datasets import RawData, load_raw
from ablation.data.labelmap import LabelMap, label_mapping
from ablation.engine.options import FitFn, Progress, RunOptions
from ablation.engine.results.trained import LoadedModel, load_trial_model
from ablation.engine.runners.device_plan import loaded_on
from ablation.engine.storage import db
from ablation.engine.storage.store import Store, open_store
from ablation.engine.trials.worker import run_study
from ablation.errors import UserError
from ablation.spec.study import StudySpec, parse_study


@dataclass(frozen=True)
class Cell:
    """A model trained on one data set, measured on the test split of another."""

    train: str
    test: str
    trial: int
    accuracy: float
    macro_f1: float
    infer_seconds: float  # predicting the whole test split (normalisation included)
    n_images: int
    mapping: str
    classes: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]


def cross_spec(train: Sequence[str], model: str, epochs: int, seed: int,
               train_limit: int = 0) -> StudySpec:
    """The study that trains one model per training data set (validated like any study)."""
    name = f"cross-eval-{'+'.join(train)}-{model}-{epochs}ep-seed{seed}"
    if train_limit:
        name += f"-limit{train_limit}"
    doc = {"study": {"name": name, "seeds": [seed],
                     "description": "cross-dataset matrix: one model per training set"},
           "baseline": {"dataset": train[0], "model": model, "epochs": epochs,
                        "train_limit": train_limit},
           "axes": {"dataset": {"choices": list(train)}}}
    return parse_study(doc, "cross-eval")


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """uint8 N x C x H x W images resized bilinearly to ``size`` (antialiased when shrinking)."""
    if tuple(x.shape[2:]) == size:
        return x
    shrink = size[0] < x.shape[2] or size[1] < x.shape[3]
    out = F.interpolate(x.float(), size=size, mode="bilinear", align_corners=False,
                        antialias=shrink)
    return out.round().clamp(0, 255).to(torch.uint8)


def check_pairs(train: Sequence[str], test: Sequence[str],
                data_dir: Path) -> dict[tuple[str, str], LabelMap]:
    """Every (train, test) pair's label mapping; a missing data set, an unmappable pair or a
    channel mismatch is a UserError before anything is trained or written."""
    raws = {name: load_raw(name, str(data_dir)) for name in dict.fromkeys([*train, *test])}
    maps = {}
    for a in train:
        for b in test:
            ca, cb = raws[a].train_x.shape[1], raws[b].test_x.shape[1]
            if ca != cb:
                raise UserError(f"cannot test a {a} model on {b}: {ca} vs {cb} colour channels")
            maps[(a, b)] = label_mapping(raws[a].classes, raws[b].classes, a, b)
    return maps


def measure_cell(loaded: LoadedModel, trial: int, test_name: str, raw: RawData,
                 labels: LabelMap) -> Cell:
    """Accuracy, macro-F1, inference time and confusion of one model on one test split."""
    x = resize(raw.test_x, loaded.input_shape[1:])
    t0 = time.perf_counter()
    pred = loaded.predict(x)
    seconds = time.perf_counter() - t0
    pred_c = torch.tensor(labels.train_to_common)[pred]
    true_c = torch.tensor(labels.test_to_common)[raw.test_y]
    cm = confusion_matrix(true_c, pred_c, len(labels.classes))
    return Cell(loaded.config.dataset, test_name, trial, accuracy(true_c, pred_c), macro_f1(cm),
                seconds, len(x), labels.rule, labels.classes,
                tuple(tuple(int(v) for v in row) for row in cm.tolist()))


def run_cross_eval(train: Sequence[str], test: Sequence[str], options: RunOptions,
                   fit_fn: FitFn, model: str, epochs: int, seed: int = 0, train_limit: int = 0,
                   progress: Progress | None = None, store: Store | None = None,
                   device: str = "cpu") -> list[Cell]:
    """Train (or reuse) one model per training set, measure every cell and store it; models
    train and are measured on ``device``."""
    for flag, names in (("--train", train), ("--test", test)):
        if len(set(names)) != len(names):
            raise UserError(f"{flag}: a data set is listed twice: {','.join(names)}")
    spec = replace(cross_spec(train, model, epochs, seed, train_limit), device=device)
    maps = check_pairs(train, test, options.data_dir)
    store = store or open_store(options.storage_url, grace_seconds=options.grace_seconds)
    run_study(spec, options, fit_fn, progress, store)
    trained = {p.config["dataset"]: p.trial_number for p in db.list_points(store.engine,
               spec.storage_name) if p.state == "done" and p.trial_number is not None}
    cells = []
    for dataset in train:
        if dataset not in trained:
            raise UserError(f"the {dataset} model of {spec.storage_name!r} did not finish; "
                            "run the same command again to resume")
        number = trained[dataset]
        loaded = loaded_on(load_trial_model(store, spec.storage_name, number,
                                            options.artifacts_dir, options.data_dir), device)
        for b in test:
            cell = measure_cell(loaded, number, b, load_raw(b, str(options.data_dir)),
                                maps[(dataset, b)])
            db.put_cross_cell(store.engine, _row(spec.storage_name, cell))
            cells.append(cell)
    return cells


def _row(study: str, cell: Cell) -> dict[str, object]:
    return {"study": study, "trial_number": cell.trial, "test_dataset": cell.test,
            "train_dataset": cell.train, "accuracy": cell.accuracy, "macro_f1": cell.macro_f1,
            "infer_seconds": cell.infer_seconds, "n_images": cell.n_images,
            "mapping": cell.mapping, "classes": list(cell.classes),
            "confusion": [list(r) for r in cell.confusion]}
