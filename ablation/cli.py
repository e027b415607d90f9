"""The ``ablate`` command: thin click commands over the library.

Heavy libraries (torch, optuna) are imported inside the commands so ``ablate --help`` is instant.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from ablation.errors import UserError

DEFAULT_STORAGE = "sqlite:///storage/ablate.db"


class _Group(click.Group):
    """Turns UserError into one line on stderr and exit status 2; Ctrl-C into a resume hint."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("\ninterrupted: the running trial is marked failed; run the same command "
                       "again to resume where it stopped", err=True)
            ctx.exit(130)


storage_option = click.option(
    "--storage", default=lambda: os.environ.get("ABLATE_STORAGE", DEFAULT_STORAGE),
    show_default=DEFAULT_STORAGE, help="SQLAlchemy URL of the study database (env ABLATE_STORAGE).")
data_dir_option = click.option(
    "--data-dir", type=click.Path(path_type=Path),
    default=lambda: os.environ.get("ABLATE_DATA_DIR", "storage/datasets"),
    show_default="storage/datasets", help="Where data sets are read from / downloaded to "
    "(env ABLATE_DATA_DIR).")
artifacts_option = click.option(
    "--artifacts", type=click.Path(path_type=Path), default=None,
    help="Artifact and checkpoint directory (default: beside the SQLite file, else "
    "storage/artifacts).")


def study_options(fn: Any) -> Any:
    """What to run and where: shared by ``run`` and ``worker`` so both build the same study."""
    for option in reversed([
        click.argument("study"),
        click.option("--dataset", help="Override the baseline data set (e.g. digits, mnist)."),
        click.option("--model", help="Override the baseline model."),
        click.option("--epochs", type=click.IntRange(min=1),
                     help="Override the number of epochs."),
        click.option("--seeds", type=click.IntRange(min=1),
                     help="Number of seeds per configuration."),
        storage_option, data_dir_option, artifacts_option,
        click.option("--max-trials", type=click.IntRange(min=1), default=None,
                     help="Stop after this many trials; the rest stay for the next run."),
        click.option("--heartbeat-grace", type=click.IntRange(min=2), default=60,
                     show_default=True, help="Seconds without a heartbeat after which a "
                     "running trial counts as dead and its point is retried.")]):
        fn = option(fn)
    return fn


def _trainer() -> Any:
    """The real trainer; tests of real worker processes swap in a fake via the environment."""
    from ablation.engine.testfit import fit_from_env
    from ablation.training.fit import fit

    return fit_from_env() or fit


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ablate")
def main() -> None:
    """Ablation studies for image-classification CNNs, repeated over seeds, stored in SQL."""


@main.command()
@study_options
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes on this machine sharing the study.")
@click.option("--threads", type=click.IntRange(min=0), default=0,
              help="torch threads per worker (0: cores / workers; one worker: torch's default).")
@click.option("--dry-run", is_flag=True,
              help="Smoke-test the whole path: 1 seed, 1 epoch, 256 images, a temporary database.")
def run(study: str, dataset: str | None, model: str | None, epochs: int | None,
        seeds: int | None, storage: str, data_dir: Path, artifacts: Path | None,
        max_trials: int | None, heartbeat_grace: int, workers: int, threads: int,
        dry_run: bool) -> None:
    """Run STUDY (a built-in name or a .toml/.yaml file); finished trials are never repeated.

    A study with ``refine`` runs its second stage (STUDY/fine) once the first is complete.
    """
    from ablation.engine.local import WorkersFailed, run_workers
    from ablation.engine.stages import run_stages
    from ablation.engine.worker import run_study
    from ablation.reporting.console import RichProgress, WorkerProgress

    tmp = None
    if dry_run:
        tmp = tempfile.TemporaryDirectory(prefix="ablate-dry-run-")
        storage, artifacts = f"sqlite:///{tmp.name}/dry.db", Path(tmp.name) / "artifacts"
    spec, options = _prepare_args(study, dataset, model, epochs, seeds, storage, data_dir,
                                  artifacts, max_trials, heartbeat_grace, threads, dry_run)
    if workers > 1 and max_trials is not None:
        raise UserError("--max-trials counts the trials of one worker; use it without --workers")
    trainer = _trainer()

    def run_one(s: Any, o: Any) -> Any:
        if workers > 1:
            return run_workers(s, o, workers, trainer, WorkerProgress)
        return run_study(s, o, trainer, RichProgress())

    try:
        summaries = run_stages(spec, options, trainer, run_one=run_one)
    except WorkersFailed as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    for summary in summaries:
        click.echo(f"study {summary.study_name}: {summary.ran} trial(s) run now, "
                   f"{summary.already_done} done before, {summary.remaining} left of "
                   f"{summary.total} -> {'(dry run, discarded)' if dry_run else storage}")
    if spec.refine and len(summaries) == 1:
        click.echo(f"stage 2 ({spec.name}/fine) starts once every trial of stage 1 is done; "
                   "run the same command again")
    if tmp is not None:
        tmp.cleanup()


def _prepare_args(study: str, dataset: str | None, model: str | None, epochs: int | None,
                  seeds: int | None, storage: str, data_dir: Path, artifacts: Path | None,
                  max_trials: int | None, grace: int, threads: int,
                  dry_run: bool = False) -> tuple[Any, Any]:
    """Command-line values -> (StudySpec, RunOptions); every check a user can fail is here."""
    from ablation.engine.store import artifacts_dir_for, check_url
    from ablation.engine.worker import RunOptions
    from ablation.spec.files import load_study
    from ablation.spec.study import with_overrides

    spec = with_overrides(load_study(study), seeds=seeds, dataset=dataset, model=model,
                          epochs=epochs)
    if dry_run:
        spec = with_overrides(spec, seeds=1, epochs=1, train_limit=256)
    check_url(storage)
    options = RunOptions(storage, artifacts_dir_for(storage, artifacts), data_dir, threads,
                         max_trials=max_trials, grace_seconds=grace)
    return spec, options


@main.command()
@study_options
@click.option("--threads", type=click.IntRange(min=0), default=0,
              help="torch threads (0: torch's default, one per core).")
def worker(study: str, dataset: str | None, model: str | None, epochs: int | None,
           seeds: int | None, storage: str, data_dir: Path, artifacts: Path | None,
           max_trials: int | None, heartbeat_grace: int, threads: int) -> None:
    """Join STUDY as one more worker (any machine that reaches --storage); see docs/workers.md.

    Give the same STUDY and overrides as the `ablate run` that started it. The worker runs
    points until none is left, waiting for points other workers still run (a dead worker's
    point is taken over after --heartbeat-grace seconds).
    """
    import socket

    from ablation.engine.worker import run_study
    from ablation.reporting.console import WorkerProgress

    spec, options = _prepare_args(study, dataset, model, epochs, seeds, storage, data_dir,
                                  artifacts, max_trials, heartbeat_grace, threads)
    tag = f"{socket.gethostname()}:{os.getpid()}"
    summary = run_study(spec, options, _trainer(), WorkerProgress(tag))
    click.echo(f"worker {tag}: {summary.ran} trial(s) run, {summary.remaining} of "
               f"{summary.total} not done in {summary.study_name}")


@main.command()
def studies() -> None:
    """List the built-in studies, one line each."""
    from ablation.spec.files import builtin_studies, load_study

    for name in builtin_studies():
        spec = load_study(name)
        axes = ", ".join(a.name for a in spec.axes)
        then = f"; then {name}/fine" if spec.refine else ""
        click.echo(f"{name:<16} {spec.description}  [axes: {axes}; "
                   f"{len(spec.seeds)} seeds; {spec.baseline.dataset}{then}]")


@main.command()
@click.argument("study")
def validate(study: str) -> None:
    """Check STUDY (a .toml/.yaml file or a built-in name) without running it."""
    from ablation.engine.space import plan_summary
    from ablation.spec.files import load_study

    spec = load_study(study)
    click.echo(f"ok {spec.source}: {plan_summary(spec)}")


level_option = click.option(
    "--level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05,
    show_default=True, help="Significance level of the tests against the baseline.")
adjust_option = click.option(
    "--adjust", type=click.Choice(["none", "holm"]), default="none", show_default=True,
    help="Correction for multiple comparisons of the verdicts: holm (Holm-Bonferroni over the "
         "comparisons with the baseline) or none.")
metric_option = click.option(
    "--metric", type=click.Choice(["test_accuracy", "test_loss", "macro_f1", "train_seconds"]),
    default="test_accuracy", show_default=True,
    help="Metric the verdict and rank compare (direction follows the metric).")


@main.command()
@click.argument("study")
@storage_option
@level_option
@adjust_option
@metric_option
def show(study: str, storage: str, level: float, adjust: str, metric: str) -> None:
    """Print STUDY's table: per axis value n, mean ± std over seeds, verdict and rank."""
    from ablation.engine.reader import load_trials, resolve_study_name
    from ablation.reporting.console import print_summary
    from ablation.reporting.tables import compare_rows, summary_rows

    name = resolve_study_name(storage, study)
    print_summary(name, compare_rows(summary_rows(load_trials(storage, name)), metric, level,
                                     adjust))


@main.command()
@click.argument("study")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path),
              help="Write the table as CSV to this file ('-' for standard output).")
@click.option("--markdown", "md_path", type=click.Path(path_type=Path),
              help="Write the table as Markdown (mean ± 95% CI, verdicts) to this file.")
@click.option("--latex", "tex_path", type=click.Path(path_type=Path),
              help="Write the table as a LaTeX table environment to this file.")
@click.option("--per-trial", is_flag=True, help="One row per trial instead of per axis value.")
@level_option
@adjust_option
@metric_option
@storage_option
def export(study: str, csv_path: Path | None, md_path: Path | None, tex_path: Path | None,
           per_trial: bool, level: float, adjust: str, metric: str, storage: str) -> None:
    """Export STUDY's results as CSV, Markdown and/or LaTeX (one row per axis value, or per
    trial), with the difference, p-value, verdict and rank against the baseline."""
    from ablation.engine.reader import load_trials, resolve_study_name
    from ablation.reporting.tables import export_texts

    wanted = {"csv": csv_path, "markdown": md_path, "latex": tex_path}
    if not any(wanted.values()):
        raise UserError("export: give at least one of --csv FILE, --markdown FILE, --latex FILE")
    name = resolve_study_name(storage, study)
    texts = export_texts(name, load_trials(storage, name), [k for k, v in wanted.items() if v],
                         per_trial=per_trial, metric=metric, level=level, adjust=adjust)
    for kind, text in texts.items():
        path = wanted[kind]
        assert path is not None
        _write_text(path, text)


@main.command()
@click.argument("study")
@click.option("--trial", "number", type=click.IntRange(min=0), required=True,
              help="Number of the stored trial whose model predicts.")
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), required=True,
              help="Kaggle digit-recognizer test CSV (header pixel0..pixel783, no labels).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Where to write the submission CSV (ImageId,Label; '-' for stdout).")
@storage_option
@artifacts_option
@data_dir_option
def predict(study: str, number: int, input_path: Path, output: Path, storage: str,
            artifacts: Path | None, data_dir: Path) -> None:
    """Write a Kaggle submission (ImageId,Label) for INPUT from trial N's stored model.

    The training data set must be readable: inputs are normalised with its training-split
    statistics, exactly as in training.
    """
    from ablation.engine.reader import resolve_study_name
    from ablation.engine.store import artifacts_dir_for
    from ablation.engine.trained import load_trial_model, predict_kaggle
    from ablation.reporting.tables import submission_csv

    name = resolve_study_name(storage, study)
    loaded = load_trial_model(storage, name, number, artifacts_dir_for(storage, artifacts),
                              data_dir)
    _write_text(output, submission_csv(predict_kaggle(loaded, input_path)))


def _names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@main.command("cross-eval")
@click.option("--train", "train", required=True, help="Data sets to train on, comma-separated.")
@click.option("--test", "test", required=True, help="Data sets to test on, comma-separated.")
@click.option("--model", default="resnet-lite", show_default=True, help="Model to train.")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--train-limit", type=click.IntRange(min=0), default=0,
              help="Train on only the first N training images (0: all).")
@click.option("--markdown", "md_path", type=click.Path(path_type=Path),
              help="Also write the matrix as Markdown to this file.")
@storage_option
@data_dir_option
@artifacts_option
@click.option("--threads", type=click.IntRange(min=0), default=0,
              help="torch threads (0: torch's default, one per core).")
def cross_eval(train: str, test: str, model: str, epochs: int, seed: int, train_limit: int,
               md_path: Path | None, storage: str, data_dir: Path, artifacts: Path | None,
               threads: int) -> None:
    """Train one model per --train data set and test each on every --test data set.

    Prints accuracy, macro-F1 and inference time per cell (study 002, Table 8) and stores each
    cell with its confusion matrix. Label spaces must match or be EMNIST splits (ByClass folds
    onto ByMerge/Balanced); test images are resized bilinearly to the model's input size.
    """
    from ablation.engine.cross_eval import run_cross_eval
    from ablation.engine.store import artifacts_dir_for, check_url
    from ablation.engine.worker import RunOptions
    from ablation.reporting.console import RichProgress
    from ablation.reporting.tables import cross_matrix_table
    from ablation.reporting.text import to_markdown
    from ablation.training.fit import fit

    check_url(storage)
    options = RunOptions(storage, artifacts_dir_for(storage, artifacts), data_dir, threads)
    cells = run_cross_eval(_names(train), _names(test), options, fit, model, epochs, seed,
                           train_limit, RichProgress())
    text = to_markdown(cross_matrix_table(f"cross-dataset matrix ({model}, {epochs} epochs, "
                                          f"seed {seed})", cells))
    click.echo(text)
    if md_path is not None:
        _write_text(md_path, text)


def _write_text(path: Path, text: str) -> None:
    """Write atomically (or to stdout for '-'); a bad path is a user error."""
    if str(path) == "-":
        sys.stdout.write(text)
        return
    if not path.parent.is_dir():
        raise UserError(f"cannot write {path}: directory {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    click.echo(f"wrote {path}")


@main.command()
@click.argument("study")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="HTML file to write (self-contained: opens offline).")
@click.option("--trial", type=click.IntRange(min=0), default=None,
              help="Trial whose confusion matrix is shown (default: best validation accuracy).")
@click.option("--images", type=click.Path(path_type=Path), default=None,
              help="Also write each chart as SVG and PNG into this directory (needs chromium).")
@storage_option
def report(study: str, output: Path, trial: int | None, images: Path | None,
           storage: str) -> None:
    """Write STUDY's report: bars with 95% CIs, learning curves, confusion matrix, and more."""
    from ablation.engine.reader import load_study_data, resolve_study_name
    from ablation.reporting.html import report_html, report_sections

    if images is not None:
        from ablation.reporting.browser import find_chromium

        if find_chromium() is None:
            raise UserError("--images needs chromium on PATH (Debian: apt-get install -y "
                            "chromium); the HTML report does not")
    name = resolve_study_name(storage, study)
    data = load_study_data(storage, name, trial)
    _check_dir(output)
    _write_text(output, report_html(data))
    if images is not None:
        from ablation.reporting.images import export_images

        for path in export_images(report_sections(data), images):
            click.echo(f"wrote {path}")


@main.command()
@click.argument("study")
@click.option("--trial", type=click.IntRange(min=0), required=True,
              help="Trial whose trained model is mapped.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="HTML file to write.")
@click.option("--sample", type=click.IntRange(min=10), default=1000, show_default=True,
              help="Number of test images to map.")
@storage_option
@data_dir_option
@artifacts_option
def embed(study: str, trial: int, output: Path, sample: int, storage: str, data_dir: Path,
          artifacts: Path | None) -> None:
    """Map a trained model's penultimate-layer features of test images to 2-D with t-SNE."""
    import torch

    from ablation.analysis.features import penultimate_features, sample_indices, tsne_2d
    from ablation.data.datasets import make_splits
    from ablation.engine.reader import resolve_study_name
    from ablation.engine.store import artifacts_dir_for
    from ablation.engine.trained import load_trial_model
    from ablation.reporting.html import embed_html

    name = resolve_study_name(storage, study)
    _check_dir(output)
    loaded = load_trial_model(storage, name, trial, artifacts_dir_for(storage, artifacts),
                              data_dir)
    config = loaded.config
    data = make_splits(config.dataset, data_dir, config.val_fraction, config.train_limit)
    idx = sample_indices(len(data.test_x), sample)
    xy = tsne_2d(penultimate_features(loaded.model, loaded.normalise,
                                      data.test_x[torch.from_numpy(idx)]))
    labels = [int(v) for v in data.test_y[idx].tolist()]
    _write_text(output, embed_html(name, trial, xy.tolist(), labels, data.classes))


def _check_dir(path: Path) -> None:
    """Fail before any slow work when the output's directory is missing."""
    if not path.parent.is_dir():
        raise UserError(f"cannot write {path}: directory {path.parent} does not exist")


@main.command()
@storage_option
@artifacts_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
def dashboard(storage: str, artifacts: Path | None, host: str, port: int) -> None:
    """Serve optuna-dashboard on the study database (trials, curves, artifacts)."""
    import optuna
    import optuna_dashboard

    from ablation.engine.store import artifacts_dir_for, open_store

    store = open_store(storage, must_exist=True)
    art = artifacts_dir_for(storage, artifacts)
    art.mkdir(parents=True, exist_ok=True)
    click.echo(f"optuna-dashboard on http://{host}:{port}/ for {storage} (Ctrl-C stops it)")
    optuna_dashboard.run_server(store.optuna, host=host, port=port,
                                artifact_store=optuna.artifacts.FileSystemArtifactStore(str(art)))
