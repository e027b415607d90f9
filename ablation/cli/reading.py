"""Commands that read a stored study: ``show``, ``export``, ``report`` and ``dashboard``
(``predict`` and ``embed``, which load a trial's model, are in model_commands.py). Each opens
the store once and passes it on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ablation.cli.common import (
    adjust_option,
    artifacts_option,
    check_dir,
    level_option,
    margin_option,
    metric_option,
    storage_option,
    variant_options,
    write_text,
)
from ablation.cli.endings import note_failures
from ablation.cli.outputs import check_image_folder, image_writer
from ablation.config.limits import INT_MAX
from ablation.errors import UserError


def _open(storage: str) -> Any:
    from ablation.engine.storage.store import open_store

    return open_store(storage, must_exist=True)


def stored_name(store: Any, study: str, dataset: str | None = None, model: str | None = None,
                epochs: int | None = None) -> str:
    """The stored study STUDY names: with --dataset/--model/--epochs, the variant ``run`` stored
    with those overrides; without, the study itself or its only variant."""
    from ablation.engine.results.reader import check_ablate_study, resolve_study_name

    if dataset is None and model is None and epochs is None:
        name = str(resolve_study_name(store, study))
    else:
        from ablation.spec.files import load_study
        from ablation.spec.study import with_overrides

        spec = with_overrides(load_study(study), dataset=dataset, model=model, epochs=epochs)
        name = str(resolve_study_name(store, spec.storage_name))
    check_ablate_study(store, name)
    return name


def _margin_inputs(store: Any, name: str, trials: Any, margin: float | None) -> dict[str, Any]:
    """The margin (--margin, else the stored study's) and the split sizes the default rule
    reads (from a complete trial's record, else its test confusion matrix's total)."""
    from ablation.engine.results.reader import spec_record, trial_attrs

    out: dict[str, Any] = {"margin": margin}
    stored = spec_record(store, name).get("margin")
    if margin is None and isinstance(stored, int | float):
        out.update(margin=float(stored), margin_source="the study file")
    done = next((t.number for t in trials if t.state == "complete"), None)
    if out["margin"] is None and done is not None:
        attrs = trial_attrs(store, name, done)
        out["sizes"] = dict(attrs.get("data_sizes", {}))
        if "test" not in out["sizes"] and isinstance(attrs.get("confusion"), list):
            # a trainer that reports no data sizes: the test confusion matrix counts them
            out["sizes"]["test"] = int(sum(map(sum, attrs["confusion"])))
    return out


def table_inputs(store: Any, name: str, metric: str | None, level: float, adjust: str,
                 evidence: bool = False, margin: float | None = None,
                 trials: Any = ()) -> Any:
    """What the tables need besides the trials: the compared metric (the study's own by
    default), level, adjustment, the looks of --until-resolved, the equivalence margin,
    a recipe study's recipe and, if asked, the stored predictions."""
    from ablation.engine.results.reader import (
        compared_metric,
        load_evidence,
        load_looks,
        spec_record,
    )
    from ablation.reporting.exports import TableInputs
    from ablation.reporting.noise import NO_EVIDENCE
    from ablation.spec.recipe import recipe_from_record

    return TableInputs(metric or compared_metric(store, name), level, adjust,
                       load_looks(store, name),
                       load_evidence(store, name) if evidence else NO_EVIDENCE,
                       **_margin_inputs(store, name, trials, margin),
                       recipe=recipe_from_record(spec_record(store, name).get("recipe")))


def print_verdicts(store: Any, name: str, metric: str | None = None, level: float = 0.05,
                   adjust: str = "holm", noise: bool = False, lines: tuple[str, ...] = (),
                   margin: float | None = None) -> None:
    """Print the verdict table of a stored study (``show``, and the end of ``run``), then
    where its points stand and ``lines``."""
    from ablation.analysis.records import is_search_stage
    from ablation.engine.flow.confirm import stored_confirm_stage
    from ablation.engine.results.reader import baseline_chance, load_trials, point_counts
    from ablation.reporting.console import TERMINAL_DROP, print_table, terminal_columns
    from ablation.reporting.looks import looks_note, sequential_decisions
    from ablation.reporting.summary import chance_warning, point_status, summary_rows
    from ablation.reporting.tables import columns_for, metrics_table, paper_table, search_table

    trials = load_trials(store, name)
    inputs = table_inputs(store, name, metric, level, adjust, noise, margin, trials)
    if is_search_stage(trials):
        confirmed = name if stored_confirm_stage(store, name) is not None else None
        print_table(search_table(name, trials, inputs.metric, confirmed),
                    [point_status(point_counts(store, name)), *lines])
        return
    rows = summary_rows(trials, inputs.metric)
    sequential = sequential_decisions(rows, inputs.looks, inputs.metric)
    table = paper_table(name, rows, inputs.metric, level, adjust, sequential,
                        inputs.margin_for(rows), TERMINAL_DROP)
    said = [looks_note(inputs.looks, inputs.metric)] if sequential is not None else []
    warning = chance_warning(trials, baseline_chance(store, name))
    if warning is not None:
        click.echo(warning)
    if columns_for(rows, inputs.metric)[1:]:  # the other metrics first, the verdicts last
        print_table(terminal_columns(metrics_table(name, rows, inputs.metric)))
    if inputs.recipe is not None:  # the usual table, then the design's own table last
        from ablation.reporting.recipe_tables import recipe_table

        print_table(table)
        table = recipe_table(name, rows, inputs.recipe, inputs.metric, level, adjust,
                             inputs.margin_for(rows).value)
    print_table(table, [*said, point_status(point_counts(store, name)), *lines])
    if noise:
        from ablation.reporting.noise import noise_table

        print_table(noise_table(name, trials, inputs.evidence))


search_stage_option = click.option(
    "--search-stage", is_flag=True,
    help="For a sampled search with a confirm stage: its search stage (one row per "
         "single-seed trial, no verdicts) instead of the confirmed table.")


def shown_stage(store: Any, name: str, search_stage: bool, doing: str) -> tuple[str, str | None]:
    """The stage ``show`` and ``export`` read for stored study ``name``: a sampled search's
    confirm stage (said on stderr), unless --search-stage asks for the search itself; and
    ``name`` again where it has a confirm stage (what a search table points to), else None."""
    from ablation.engine.flow.confirm import stored_confirm_stage

    confirmed = stored_confirm_stage(store, name)
    if confirmed is None or search_stage:
        return name, None if confirmed is None else name
    click.echo(f"{name} is a sampled search: {doing} its confirm stage {confirmed!r} (its "
               f"search trials: --search-stage)", err=True)
    return confirmed, name


@click.command()
@click.argument("study")
@variant_options
@storage_option
@level_option
@adjust_option
@margin_option
@metric_option
@click.option("--noise", is_flag=True, help="Also print, per configuration, how much of the "
              "spread of test accuracy over seeds the finite test set alone explains.")
@search_stage_option
def show(study: str, dataset: str | None, model: str | None, epochs: int | None, storage: str,
         level: float, adjust: str, margin: float | None, metric: str | None,
         noise: bool, search_stage: bool) -> None:
    """Print STUDY's verdict table: per axis value n, mean [95% CI], Δ vs the baseline with
    its CI, P(improvement), p, adjusted p, verdict and rank; then how many points are done,
    pending or failed. For a sampled search with a confirm stage: the confirmed table."""

    store = _open(storage)
    name, _ = shown_stage(store, stored_name(store, study, dataset, model, epochs),
                          search_stage, "showing")
    print_verdicts(store, name, metric, level, adjust, noise, margin=margin)
    note_failures(store, name)


@click.command()
@click.argument("study")
@variant_options
@click.option("--csv", "csv_path", type=click.Path(path_type=Path),
              help="Write the table as CSV to this file ('-' for standard output).")
@click.option("--markdown", "md_path", type=click.Path(path_type=Path),
              help="Write the verdict table and the other metrics as Markdown to this file.")
@click.option("--latex", "tex_path", type=click.Path(path_type=Path),
              help="Write the tables as LaTeX (booktabs, split to fit a page) to this file.")
@click.option("--pareto", "pareto_path", type=click.Path(path_type=Path),
              help="Write the accuracy-vs-bytes Pareto front of a compression study as CSV.")
@click.option("--per-trial", is_flag=True, help="One row per trial instead of per axis value.")
@level_option
@adjust_option
@margin_option
@metric_option
@storage_option
@search_stage_option
def export(study: str, dataset: str | None, model: str | None, epochs: int | None,
           csv_path: Path | None, md_path: Path | None, tex_path: Path | None,
           pareto_path: Path | None, per_trial: bool, level: float, adjust: str,
           margin: float | None, metric: str | None, storage: str,
           search_stage: bool) -> None:
    """Export STUDY's results as CSV, Markdown and/or LaTeX (one row per axis value, or per
    trial): estimates with t and bootstrap CIs, Δ, P(improvement), effect size, p, adjusted
    p, verdict and rank against the baseline, and the test-set noise share (CSV)."""
    from ablation.engine.results.reader import load_trials
    from ablation.reporting.exports import export_texts

    wanted = {"csv": csv_path, "markdown": md_path, "latex": tex_path}
    _check_export_paths(wanted, pareto_path, storage)
    store = _open(storage)
    name, confirmed = shown_stage(store, stored_name(store, study, dataset, model, epochs),
                                  search_stage, "exporting")
    trials = load_trials(store, name)
    inputs = table_inputs(store, name, metric, level, adjust, csv_path is not None, margin,
                          trials)
    texts = export_texts(name, trials, [k for k, v in wanted.items() if v],
                         per_trial=per_trial, inputs=inputs, confirmed=confirmed)
    if pareto_path is not None:
        texts["pareto"] = _pareto_text(name, trials)
        wanted["pareto"] = pareto_path
    for kind, text in texts.items():
        path = wanted[kind]
        assert path is not None
        write_text(path, text, storage, option=EXPORT_OPTIONS[kind])


EXPORT_OPTIONS = {"csv": "--csv", "markdown": "--markdown", "latex": "--latex",
                  "pareto": "--pareto"}


def _check_export_paths(wanted: dict[str, Path | None], pareto_path: Path | None,
                        storage: str) -> None:
    """At least one output, and every output's folder writable, before the store opens."""
    if not any(wanted.values()) and pareto_path is None:
        raise UserError("export: give at least one of --csv FILE, --markdown FILE, "
                        "--latex FILE, --pareto FILE")
    for kind, path in (*wanted.items(), ("pareto", pareto_path)):
        if path is not None:
            check_dir(path, storage, EXPORT_OPTIONS[kind])


def _pareto_text(name: str, trials: Any) -> str:
    from ablation.analysis.pareto import front_rows
    from ablation.reporting.exports import pareto_csv

    rows = front_rows(trials)
    if not rows:
        raise UserError(f"study {name!r} has no completed trials with artifact metrics "
                        "(artifact_test_accuracy, artifact_bytes): no Pareto front to write")
    return pareto_csv(rows)


@click.command()
@click.argument("study")
@variant_options
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="HTML file to write (self-contained: opens offline).")
@click.option("--trial", type=click.IntRange(0, INT_MAX), default=None,
              help="Trial whose confusion matrix is shown (default: the baseline's median seed).")
@click.option("--images", type=click.Path(path_type=Path), default=None,
              help="Also write each chart as SVG and PNG into this directory (needs chromium).")
@level_option
@adjust_option
@margin_option
@storage_option
def report(study: str, dataset: str | None, model: str | None, epochs: int | None,
           output: Path, trial: int | None, images: Path | None, level: float, adjust: str,
           margin: float | None, storage: str) -> None:
    """Write STUDY's report: the verdict table first, then the baseline configuration, data,
    environment, test-set noise, bars with 95% CIs, learning curves, confusion matrix."""
    from ablation.engine.results.reader import load_study_data
    from ablation.reporting.page.html import report_html, report_sections

    check_dir(output, storage, "-o")
    if images is not None:
        from ablation.reporting.page.browser import find_chromium

        check_image_folder(images, storage)
        if find_chromium() is None:
            raise UserError("--images needs chromium on PATH (Debian: apt-get install -y "
                            "chromium); the HTML report does not")
    store = _open(storage)
    data = load_study_data(store, stored_name(store, study, dataset, model, epochs), trial)
    write_text(output, report_html(data, level, adjust, margin), storage, option="-o")
    if images is not None:
        from ablation.reporting.page.images import export_images

        for path in export_images(report_sections(data, level, adjust, margin), images,
                                  write=image_writer(storage)):
            click.echo(f"wrote {path}")


@click.command()
@storage_option
@artifacts_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; beyond loopback only with --allow-remote.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--allow-remote", is_flag=True,
              help="Allow a --host other than loopback. optuna-dashboard has no "
              "authentication: anyone who reaches the port reads every study.")
def dashboard(storage: str, artifacts: Path | None, host: str, port: int,
              allow_remote: bool) -> None:
    """Serve optuna-dashboard on the study database, read-only (trials, curves, artifacts)."""
    import optuna_dashboard

    from ablation.cli.serving import is_loopback, read_only, serve
    from ablation.engine.storage.artifact_store import artifact_store, is_bucket
    from ablation.engine.storage.store import artifacts_dir_for, shown_url

    remote = not is_loopback(host)
    if remote and not allow_remote:
        raise UserError(f"--host {host}: serving beyond this machine needs --allow-remote; "
                        "optuna-dashboard has no authentication, so anyone who reaches the "
                        "port could read every study")
    store = _open(storage)
    art = artifacts_dir_for(storage, artifacts)
    # read-only: an artifacts folder that does not exist is not created (no artifacts to show)
    arts = artifact_store(art, create=False) if is_bucket(art) or Path(art).is_dir() else None
    if remote:
        click.echo(f"warning: serving on {host}:{port} without authentication: anyone who "
                   "reaches it can read every study (writes are refused)", err=True)
    click.echo(f"optuna-dashboard (read-only) on http://{host}:{port}/ for "
               f"{shown_url(storage)} (Ctrl-C stops it)")
    serve(read_only(optuna_dashboard.wsgi(store.optuna, artifact_store=arts)), host, port)
