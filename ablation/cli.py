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
    from ablation.training import fit

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
    """Run STUDY (a built-in name or a .toml/.yaml file); finished trials are never repeated."""
    from ablation.engine.runner import run_study
    from ablation.engine.workers import WorkersFailed, run_workers
    from ablation.progress import RichProgress, WorkerProgress

    tmp = None
    if dry_run:
        tmp = tempfile.TemporaryDirectory(prefix="ablate-dry-run-")
        storage, artifacts = f"sqlite:///{tmp.name}/dry.db", Path(tmp.name) / "artifacts"
    spec, options = _prepare_args(study, dataset, model, epochs, seeds, storage, data_dir,
                                  artifacts, max_trials, heartbeat_grace, threads, dry_run)
    if workers > 1 and max_trials is not None:
        raise UserError("--max-trials counts the trials of one worker; use it without --workers")
    try:
        summary = (run_workers(spec, options, workers, _trainer(), WorkerProgress)
                   if workers > 1 else run_study(spec, options, _trainer(), RichProgress()))
    except WorkersFailed as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"study {summary.study_name}: {summary.ran} trial(s) run now, "
               f"{summary.already_done} done before, {summary.remaining} left of {summary.total}"
               f" -> {'(dry run, discarded)' if dry_run else storage}")
    if tmp is not None:
        tmp.cleanup()


def _prepare_args(study: str, dataset: str | None, model: str | None, epochs: int | None,
                  seeds: int | None, storage: str, data_dir: Path, artifacts: Path | None,
                  max_trials: int | None, grace: int, threads: int,
                  dry_run: bool = False) -> tuple[Any, Any]:
    """Command-line values -> (StudySpec, RunOptions); every check a user can fail is here."""
    from ablation.engine.runner import RunOptions
    from ablation.engine.storage import artifacts_dir_for, check_url
    from ablation.spec import load_study, with_overrides

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

    from ablation.engine.runner import run_study
    from ablation.progress import WorkerProgress

    spec, options = _prepare_args(study, dataset, model, epochs, seeds, storage, data_dir,
                                  artifacts, max_trials, heartbeat_grace, threads)
    tag = f"{socket.gethostname()}:{os.getpid()}"
    summary = run_study(spec, options, _trainer(), WorkerProgress(tag))
    click.echo(f"worker {tag}: {summary.ran} trial(s) run, {summary.remaining} of "
               f"{summary.total} not done in {summary.study_name}")


@main.command()
def studies() -> None:
    """List the built-in studies, one line each."""
    from ablation.spec import builtin_studies, load_study

    for name in builtin_studies():
        spec = load_study(name)
        axes = ", ".join(a.name for a in spec.axes)
        click.echo(f"{name:<16} {spec.description}  [axes: {axes}; "
                   f"{len(spec.seeds)} seeds; {spec.baseline.dataset}]")


@main.command()
@click.argument("study")
@storage_option
def show(study: str, storage: str) -> None:
    """Print STUDY's table: one row per axis value with n and mean ± std over seeds."""
    from ablation.engine.results import load_trials, resolve_study_name
    from ablation.progress import print_summary
    from ablation.reporting.tables import summary_rows

    name = resolve_study_name(storage, study)
    print_summary(name, summary_rows(load_trials(storage, name)))


@main.command()
@click.argument("study")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), required=True,
              help="Write the table as CSV to this file ('-' for standard output).")
@click.option("--per-trial", is_flag=True, help="One row per trial instead of per axis value.")
@storage_option
def export(study: str, csv_path: Path, per_trial: bool, storage: str) -> None:
    """Export STUDY's results as a CSV table (one row per axis value, or per trial)."""
    from ablation.engine.results import load_trials, resolve_study_name
    from ablation.reporting.tables import per_trial_csv, summary_csv, summary_rows

    name = resolve_study_name(storage, study)
    trials = load_trials(storage, name)
    text = per_trial_csv(name, trials) if per_trial else summary_csv(name, summary_rows(trials))
    _write_text(csv_path, text)


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
@storage_option
@artifacts_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
def dashboard(storage: str, artifacts: Path | None, host: str, port: int) -> None:
    """Serve optuna-dashboard on the study database (trials, curves, artifacts)."""
    import optuna
    import optuna_dashboard

    from ablation.engine.storage import artifacts_dir_for, open_store

    store = open_store(storage, must_exist=True)
    art = artifacts_dir_for(storage, artifacts)
    art.mkdir(parents=True, exist_ok=True)
    click.echo(f"optuna-dashboard on http://{host}:{port}/ for {storage} (Ctrl-C stops it)")
    optuna_dashboard.run_server(store.optuna, host=host, port=port,
                                artifact_store=optuna.artifacts.FileSystemArtifactStore(str(art)))
