"""Commands that load a stored trial's model: ``predict`` (a Kaggle submission) and ``embed``
(a t-SNE map of its features)."""

from __future__ import annotations

from pathlib import Path

import click

from ablation.cli.common import (
    artifacts_option,
    check_dir,
    data_dir_option,
    storage_option,
    write_text,
)
from ablation.cli.outputs import check_output
from ablation.cli.placement import device_options
from ablation.cli.reading import _open, stored_name
from ablation.config.devices import spellings
from ablation.config.limits import INT_MAX
from ablation.errors import UserError


@click.command()
@click.argument("study")
@click.option("--trial", "number", type=click.IntRange(0, INT_MAX), required=True,
              help="Number of the stored trial whose model predicts.")
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), required=True,
              help="Kaggle digit-recognizer test CSV (header pixel0..pixel783, no labels).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Where to write the submission CSV (ImageId,Label; '-' for stdout).")
@storage_option
@artifacts_option
@data_dir_option
@device_options("cpu", "Where the model predicts: cpu (whatever device it trained on), or "
                f"{', '.join(n for n in spellings() if n != 'cpu')}.")
@click.option("--compressed", is_flag=True,
              help="Predict with the trial's compressed artifact (pruned/int8, as stored; int8 "
                   "kernels where the CPU has them) instead of its full weights. CPU only; "
                   "needs no data set.")
def predict(study: str, number: int, input_path: Path, output: Path, storage: str,
            artifacts: Path | None, data_dir: Path, device: str, compressed: bool) -> None:
    """Write a Kaggle submission (ImageId,Label) for INPUT from trial N's stored model.

    The training data set must be readable (not with --compressed): inputs are normalised with
    its training-split statistics, exactly as in training.
    """
    from ablation.engine.results.trained import (
        load_compressed_model,
        load_trial_model,
        predict_kaggle,
    )
    from ablation.engine.runners.device_plan import checked_device, loaded_on
    from ablation.engine.storage.store import artifacts_dir_for
    from ablation.reporting.exports import submission_csv

    if compressed and device != "cpu":
        raise UserError(f"--compressed runs on the CPU (quantized kernels are CPU kernels); "
                        f"leave out --device {device}")
    checked_device(device, "--device")
    check_output(output, storage, [input_path], "-o")
    store = _open(storage)
    name, where = stored_name(store, study), artifacts_dir_for(storage, artifacts)
    loaded = (load_compressed_model(store, name, number, where) if compressed else
              loaded_on(load_trial_model(store, name, number, where, data_dir), device))
    write_text(output, submission_csv(predict_kaggle(loaded, input_path)), storage,
               inputs=[input_path], option="-o")


@click.command()
@click.argument("study")
@click.option("--trial", type=click.IntRange(0, INT_MAX), required=True,
              help="Trial whose trained model is mapped.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="HTML file to write.")
@click.option("--sample", type=click.IntRange(10, 100_000), default=1000, show_default=True,
              help="Number of test images to map.")
@storage_option
@data_dir_option
@artifacts_option
def embed(study: str, trial: int, output: Path, sample: int, storage: str, data_dir: Path,
          artifacts: Path | None) -> None:
    """Map a trained model's penultimate-layer features of test images to 2-D with t-SNE."""
    import torch

    from ablation.data.datasets import make_splits
    from ablation.engine.results.trained import load_trial_model
    from ablation.engine.storage.store import artifacts_dir_for
    from ablation.reporting.page.embedding import penultimate_features, sample_indices, tsne_2d
    from ablation.reporting.page.html import embed_html

    check_dir(output, storage, "-o")
    store = _open(storage)
    name = stored_name(store, study)
    loaded = load_trial_model(store, name, trial, artifacts_dir_for(storage, artifacts),
                              data_dir)
    config = loaded.config
    data = make_splits(config.dataset, data_dir, config.val_fraction, config.train_limit)
    idx = sample_indices(len(data.test_x), sample)
    xy = tsne_2d(penultimate_features(loaded.model, loaded.normalise,
                                      data.test_x[torch.from_numpy(idx)]))
    labels = [int(v) for v in data.test_y[idx].tolist()]
    write_text(output, embed_html(name, trial, xy.tolist(), labels, data.classes), storage,
               option="-o")
