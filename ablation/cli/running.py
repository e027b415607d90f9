"""Commands that train: ``run``, ``worker`` and ``cross-eval``."""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ablation.cli.common import (
    artifacts_option,
    check_dir,
    data_dir_option,
    level_option,
    margin_option,
    names,
    storage_option,
    study_options,
    trainer_option,
    write_text,
)
from ablation.cli.endings import after_running, before_running, sigterm_like_ctrl_c
from ablation.cli.placement import (
    DEVICE_HELP,
    device_options,
    devices_options,
    plan_placements,
)
from ablation.cli.ray_options import ray_options, ray_plan
from ablation.config.limits import INT_MAX, MAX_EPOCHS, MAX_THREADS, MAX_WORKERS
from ablation.errors import UserError

DEVICE_HELP_CROSS = DEVICE_HELP + " The models are measured on it too."


def trainer_for(ref: str | None) -> Any:
    """The function that trains: ``--trainer MODULE:FUNCTION``, else ablate's own fit."""
    from ablation.engine.options import default_trainer, load_trainer

    return load_trainer(ref) if ref else default_trainer()


def prepare_args(study: str, dataset: str | None, model: str | None, epochs: int | None,
                 seeds: int | None, storage: str, data_dir: Path, artifacts: Path | None,
                 max_trials: int | None, grace: int, threads: int,
                 dry_run: bool = False, n_trials: int | None = None,
                 device: str | None = None) -> tuple[Any, Any]:
    """Command-line values -> (StudySpec, RunOptions); every check a user can fail is here."""
    from ablation.engine.options import RunOptions
    from ablation.engine.runners.device_plan import with_device
    from ablation.engine.storage.store import artifacts_dir_for, check_url
    from ablation.spec.epochs import adapted_note
    from ablation.spec.files import load_study
    from ablation.spec.recipe_checks import min_epochs
    from ablation.spec.study import with_overrides

    if dry_run and dataset is None:
        dataset = "digits"  # a smoke test must run offline: the embedded data set
    spec = with_overrides(load_study(study), seeds=seeds, n_trials=n_trials, dataset=dataset,
                          model=model, epochs=epochs)
    if dry_run:  # a search keeps 2 confirm seeds (its verdicts need two) and samples 2 trials;
        # the fewest epochs the study accepts (a recipe with SWA needs 2)
        spec = with_overrides(spec, seeds=2 if spec.confirm else 1,
                              epochs=min_epochs(spec.recipe), train_limit=256,
                              n_trials=2 if spec.is_search else None)
    spec = with_device(spec, device)  # --device, else study.device; exits 2 where none is
    if adapted_note(spec) is not None:
        click.echo(adapted_note(spec), err=True)
    check_url(storage)
    options = RunOptions(storage, artifacts_dir_for(storage, artifacts), data_dir, threads,
                         max_trials=max_trials, grace_seconds=grace)
    return spec, options


n_trials_option = click.option(
    "--n-trials", type=click.IntRange(min=1), default=None,
    help="A sampled search's trial budget, over all runs and workers (instead of the study's "
    "n_trials).")


class _Workers(click.ParamType):
    """``auto`` or a worker count 1..MAX_WORKERS."""

    name = "auto|N"

    def convert(self, value: Any, param: Any, ctx: Any) -> int | str:
        if isinstance(value, int) or str(value).strip().lower() != "auto":
            return click.IntRange(1, MAX_WORKERS).convert(value, param, ctx)
        return "auto"


WORKERS = _Workers()


def run_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--workers, --threads and --dry-run of ``run``."""
    for option in reversed([
        click.option("--workers", type=WORKERS, default="auto", show_default=True,
                     help="Worker processes on this machine sharing the study; auto: one "
                     "single-threaded worker per core for small CPU trials (as memory and the "
                     "trials left allow), one worker with every thread for big models, a GPU "
                     "or a tiny study; the run's first line says which."),
        click.option("--threads", type=click.IntRange(0, MAX_THREADS), default=0,
                     help="torch threads per worker (0: cores / workers; one worker: torch's "
                     "default)."),
        click.option("--dry-run", is_flag=True,
                     help="Smoke-test the whole path offline: 1 seed, 1 epoch, 256 images of "
                     "the embedded digits data set (unless --dataset), a temporary database.")]):
        fn = option(fn)
    return fn


def rounds_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--until-resolved, --max-seeds, --round-seeds and --level of ``run``."""
    for option in reversed([
        click.option("--until-resolved", is_flag=True,
                     help="After the first --seeds, add seeds in rounds only to cells whose "
                     "verdict is still open, with a stopping rule that keeps the "
                     "false-positive rate at --level (docs/statistics.md). Needs --max-seeds."),
        click.option("--max-seeds", type=click.IntRange(min=3), default=None,
                     help="With --until-resolved: seeds per cell at the last look."),
        click.option("--round-seeds", type=click.IntRange(min=1), default=2,
                     show_default=True,
                     help="With --until-resolved: seeds each round adds to an open cell."),
        click.option("--fixed-seeds", is_flag=True, envvar="ABLATE_FIXED_SEEDS",
                     show_envvar=True,
                     help="Run the study's seeds once. Without it (and without --seeds or "
                     "--until-resolved) a one-at-a-time grid study of 3+ seeds adds 3 seeds per "
                     "round to cells still unresolved, up to 12 (docs/statistics.md)."),
        level_option, margin_option]):
        fn = option(fn)
    return fn


@click.command()
@study_options
@n_trials_option
@run_options
@device_options()
@devices_options
@ray_options
@rounds_options
@sigterm_like_ctrl_c
def run(study: str, dataset: str | None, model: str | None, epochs: int | None,
        seeds: int | None, storage: str, data_dir: Path, artifacts: Path | None,
        trainer: str | None, max_trials: int | None, heartbeat_grace: int, retry_failed: bool,
        n_trials: int | None, workers: int | str, threads: int, dry_run: bool,
        device: str | None,
        devices: str | None, per_device: int, until_resolved: bool, max_seeds: int | None,
        round_seeds: int, fixed_seeds: bool, level: float, margin: float | None,
        **ray: Any) -> None:
    """Run STUDY (a built-in name or a .toml/.yaml file); finished trials are never repeated
    (--seeds N adds only missing seeds). Ends with the verdict table and where it is stored.

    Then STUDY/fine (``refine``) or a search's STUDY/confirm, once the first stage is finished.
    """
    from ablation.engine.flow.run import RunPlan
    from ablation.engine.storage.store import open_store
    from ablation.engine.trials.register import check_ready

    _early_fork_server(workers, dry_run, devices or trainer, device, ray["ray_address"])
    tmp, storage, artifacts = _dry_run_storage(dry_run, storage, artifacts)
    spec, options = prepare_args(study, dataset, model, epochs, seeds, storage, data_dir,
                                 artifacts, max_trials, heartbeat_grace, threads, dry_run,
                                 n_trials, device)
    auto = workers == "auto"
    placements, workers = plan_placements(device, devices, per_device,
                                          1 if auto else int(workers),
                                          ray["ray_address"] is not None)
    cluster = ray_plan(ray, workers, max_trials, storage)  # --ray [ADDRESS], or None
    if workers > 1 and max_trials is not None:
        raise UserError("--max-trials counts the trials of one worker; use it without --workers")
    rounds = _rounds_plan(spec, until_resolved, max_seeds, round_seeds, level, margin,
                          fixed_seeds or seeds is not None or dry_run)
    fit_fn = trainer_for(trainer)
    points = check_ready(spec, options)  # user errors before the database file is created
    store = open_store(storage, grace_seconds=heartbeat_grace)
    if auto and not (placements or cluster or max_trials is not None or trainer or dry_run):
        workers = _auto_workers(spec, options, store, points, threads)
    before_running(store, spec, workers, threads, retry_failed)
    _say_if_new_beside_others(store, spec)
    summaries = _run(spec, options, fit_fn, store, RunPlan(
        workers, tuple(placements), cluster, rounds))
    _finish(spec, summaries, store, tmp, storage, level, margin)


def _early_fork_server(workers: int | str, dry_run: bool, devices_or_trainer: str | None,
                       device: str | None, ray_address: str | None) -> None:
    """Where CPU workers may start: their fork server, started before the checks it overlaps."""
    if workers != 1 and not (dry_run or devices_or_trainer or device not in (None, "cpu")
                             or ray_address is not None):
        from ablation.engine.runners.launch import start_fork_server, warm_end_of_run_imports

        start_fork_server()
        warm_end_of_run_imports()


def _dry_run_storage(dry_run: bool, storage: str, artifacts: Path | None
                     ) -> tuple[tempfile.TemporaryDirectory[str] | None, str, Path | None]:
    """A dry run's throw-away database and artifacts folder (else the given ones)."""
    if not dry_run:
        return None, storage, artifacts
    tmp = tempfile.TemporaryDirectory(prefix="ablate-dry-run-")
    return tmp, f"sqlite:///{tmp.name}/dry.db", Path(tmp.name) / "artifacts"


def _auto_workers(spec: Any, options: Any, store: Any, points: list[Any],
                  threads: int) -> int:
    """``--workers auto`` (not with --devices, --ray, --max-trials, --trainer or --dry-run: they
    keep one worker unless told): the plan, said as the run's first line."""
    from ablation.engine.runners.auto_workers import plan_workers, trials_left
    from ablation.engine.runners.launch import uses_gpu

    plan = plan_workers(spec, options.data_dir, trials_left(store, spec, points), threads,
                        uses_gpu(spec.device))
    click.echo(plan.line(), err=True)
    return plan.workers


def _finish(spec: Any, summaries: list[Any], store: Any,
            tmp: tempfile.TemporaryDirectory[str] | None, storage: str, level: float,
            margin: float | None = None) -> None:
    """The summary lines and verdict tables; then exit 1 if points failed for good (a dry
    run's folder goes either way)."""
    from ablation.cli.reading import print_verdicts
    from ablation.engine.storage.store import shown_url

    where = "(dry run, discarded)" if tmp else shown_url(storage)
    _say_done(spec, summaries, where)
    try:
        for name in dict.fromkeys(s.study_name for s in summaries):
            print_verdicts(store, name, level=level, lines=(f"Stored in {where} as {name!r}.",),
                           margin=margin)
        after_running(store, [s.study_name for s in summaries])  # a failed smoke test too
    finally:
        if tmp is not None:
            store.engine.dispose()
            tmp.cleanup()


def _run(spec: Any, options: Any, fit_fn: Any, store: Any, plan: Any) -> list[Any]:
    """The engine runs every stage; here only what it shows, and a failed worker's exit."""
    from ablation.engine.flow.run import Display
    from ablation.engine.flow.run import run as run_study_flow
    from ablation.engine.runners.local import WorkersFailed
    from ablation.reporting.console import RichProgress, WorkerProgress

    display = Display(RichProgress(), WorkerProgress, lambda line: click.echo(line, err=True))
    try:
        return run_study_flow(spec, options, fit_fn, store, plan, display)
    except WorkersFailed as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _say_if_new_beside_others(store: Any, spec: Any) -> None:
    """A run that starts a new study beside stored variants of the same study says so: adding
    seeds needs the first run's overrides, or it runs every point again as another study."""
    from ablation.engine.results.reader import sibling_variants

    others = sibling_variants(store, spec.name, spec.storage_name)
    if others:
        listed = ", ".join(f"{n} ({k} trials)" for n, k in sorted(others.items()))
        click.echo(f"note: {spec.storage_name} is a new study; stored beside it: {listed}. To add "
                   "seeds to one of those, repeat its --dataset/--model/--epochs with --seeds.",
                   err=True)


def _rounds_plan(spec: Any, until_resolved: bool, max_seeds: int | None, round_seeds: int,
                 level: float, margin: float | None = None, fixed: bool = True) -> Any:
    """The rounds of --until-resolved, else the default rounds unless ``fixed`` (None: the
    seeds run once); option mistakes are user errors."""
    from ablation.engine.flow.rounds import default_rounds, plan_rounds

    if not until_resolved:
        if max_seeds is not None:
            raise UserError("--max-seeds applies with --until-resolved only")
        return None if fixed else default_rounds(spec, level, margin)
    if max_seeds is None:
        raise UserError("--until-resolved needs --max-seeds N (seeds per cell at the last look)")

    return plan_rounds(spec, max_seeds, round_seeds, level, margin)


def _say_done(spec: Any, summaries: list[Any], where: str) -> None:
    for summary in summaries:
        click.echo(f"study {summary.study_name}: {summary.ran} trial(s) run now, "
                   f"{summary.already_done} done before, {summary.remaining} left of "
                   f"{summary.total} -> {where}")
    if spec.refine and len(summaries) == 1:
        click.echo(f"stage 2 ({spec.name}/fine) starts once every trial of stage 1 is done; "
                   "run the same command again")
    if spec.confirm and len(summaries) == 1:
        click.echo(f"the confirm stage ({spec.name}/confirm) starts once the search's "
                   f"{spec.n_trials} trials are finished; run the same command again")
    elif spec.confirm:
        click.echo(f"confirmed table: ablate show {spec.name} (or ablate export "
                   f"'{summaries[-1].study_name}' --markdown FILE)")


@click.command()
@study_options
@n_trials_option
@click.option("--threads", type=click.IntRange(0, MAX_THREADS), default=0,
              help="torch threads (0: torch's default, one per core).")
@device_options()
@sigterm_like_ctrl_c
def worker(study: str, dataset: str | None, model: str | None, epochs: int | None,
           seeds: int | None, storage: str, data_dir: Path, artifacts: Path | None,
           trainer: str | None, max_trials: int | None, heartbeat_grace: int,
           retry_failed: bool, n_trials: int | None, threads: int, device: str | None) -> None:
    """Join STUDY as one more worker (any machine that reaches --storage); see docs/workers.md.

    Give the same STUDY and overrides as the `ablate run` that started it. The worker runs
    points until none is left, waiting for points other workers still run (a dead worker's
    point is taken over after --heartbeat-grace seconds).
    """
    from ablation.engine.storage.store import open_store
    from ablation.engine.trials.register import check_ready
    from ablation.engine.trials.worker import run_study
    from ablation.reporting.console import WorkerProgress

    spec, options = prepare_args(study, dataset, model, epochs, seeds, storage, data_dir,
                                 artifacts, max_trials, heartbeat_grace, threads,
                                 n_trials=n_trials, device=device)
    tag = f"{socket.gethostname()}:{os.getpid()}"
    fit_fn = trainer_for(trainer)
    check_ready(spec, options)  # user errors before the database file is created
    store = open_store(storage, grace_seconds=heartbeat_grace)
    before_running(store, spec, 1, threads, retry_failed)
    summary = run_study(spec, options, fit_fn, WorkerProgress(tag), store)
    click.echo(f"worker {tag}: {summary.ran} trial(s) run, {summary.remaining} of "
               f"{summary.total} not done in {summary.study_name}")
    after_running(store, [summary.study_name])


@click.command("cross-eval")
@click.option("--train", "train", required=True, help="Data sets to train on, comma-separated.")
@click.option("--test", "test", required=True, help="Data sets to test on, comma-separated.")
@click.option("--model", default="resnet-lite", show_default=True, help="Model to train.")
@click.option("--epochs", type=click.IntRange(1, MAX_EPOCHS), default=10, show_default=True)
@click.option("--seed", type=click.IntRange(0, INT_MAX), default=0, show_default=True)
@click.option("--train-limit", type=click.IntRange(0, INT_MAX), default=0,
              help="Train on only the first N training images (0: all).")
@click.option("--markdown", "md_path", type=click.Path(path_type=Path),
              help="Also write the matrix as Markdown to this file.")
@storage_option
@data_dir_option
@artifacts_option
@trainer_option
@click.option("--threads", type=click.IntRange(0, MAX_THREADS), default=0,
              help="torch threads (0: torch's default, one per core).")
@device_options("auto", DEVICE_HELP_CROSS)
@sigterm_like_ctrl_c
def cross_eval(train: str, test: str, model: str, epochs: int, seed: int, train_limit: int,
               md_path: Path | None, storage: str, data_dir: Path, artifacts: Path | None,
               trainer: str | None, threads: int, device: str) -> None:
    """Train one model per --train data set and test each on every --test data set.

    Prints accuracy, macro-F1 and inference time per cell (study 002, Table 8) and stores each
    cell with its confusion matrix. Label spaces must match or be EMNIST splits (ByClass folds
    onto ByMerge/Balanced); test images are resized bilinearly to the model's input size.
    """
    from ablation.engine.flow.cross_eval import run_cross_eval
    from ablation.engine.options import RunOptions
    from ablation.engine.storage.store import artifacts_dir_for
    from ablation.reporting.console import RichProgress
    from ablation.reporting.tables import cross_matrix_table
    from ablation.reporting.text import to_markdown

    _check_cross_eval(train, test, md_path, storage, device)
    options = RunOptions(storage, artifacts_dir_for(storage, artifacts), data_dir, threads)
    cells = run_cross_eval(names(train), names(test), options, trainer_for(trainer), model,
                           epochs, seed, train_limit, RichProgress(), device=device)
    text = to_markdown(cross_matrix_table(f"cross-dataset matrix ({model}, {epochs} epochs, "
                                          f"seed {seed})", cells))
    click.echo(text)
    if md_path is not None:
        write_text(md_path, text, storage, option="--markdown")


def _check_cross_eval(train: str, test: str, md_path: Path | None, storage: str,
                      device: str) -> None:
    """The user errors of ``cross-eval``'s options, before anything is trained or stored."""
    from ablation.engine.runners.device_plan import checked_device
    from ablation.engine.storage.store import check_url

    check_url(storage)
    checked_device(device, "--device")
    for option, given in (("--train", train), ("--test", test)):
        if not names(given):
            raise UserError(f"{option} {given!r}: give at least one data set name "
                            "(comma-separated)")
    if md_path is not None:
        check_dir(md_path, storage, "--markdown")
