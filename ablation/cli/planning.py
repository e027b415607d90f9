"""Commands for what to run next and for single trials: ``plan`` (seeds needed for a given
power) and ``compare`` (McNemar's test between two trials' stored test predictions)."""

from __future__ import annotations

from typing import Any

import click

from ablation.cli.common import (
    adjust_option,
    level_option,
    metric_option,
    storage_option,
    variant_options,
)
from ablation.cli.reading import stored_name
from ablation.errors import UserError


def _open(storage: str) -> Any:
    from ablation.engine.storage.store import open_store

    return open_store(storage, must_exist=True)


@click.command()
@click.argument("study")
@variant_options
@click.option("--detect", type=float, required=True,
              help="The true difference to detect, in the compared metric's display units "
              "(accuracy: percentage points, e.g. 0.1).")
@click.option("--power", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.8, show_default=True, help="Chance of detecting it.")
@level_option
@adjust_option
@metric_option
@storage_option
def plan(study: str, dataset: str | None, model: str | None, epochs: int | None,
         detect: float, power: float, level: float, adjust: str, metric: str | None,
         storage: str) -> None:
    """Print the seeds each cell of STUDY needs to detect a difference of --detect against the
    baseline with --power (80%), from the spread its stored seeds show."""
    from ablation.engine.results.reader import compared_metric, load_trials
    from ablation.reporting.console import print_table
    from ablation.reporting.plan import plan_advice, plan_seeds, plan_table
    from ablation.reporting.summary import summary_rows

    if detect == 0:
        raise UserError("--detect must be a nonzero difference (e.g. 0.1 accuracy points)")
    store = _open(storage)
    name = stored_name(store, study, dataset, model, epochs)
    metric = metric or compared_metric(store, name)
    rows = summary_rows(load_trials(store, name), metric, n_resamples=0)
    if not any(r.is_baseline for r in rows):
        raise UserError(f"study {name!r} has no completed baseline trials to plan against")
    found = plan_seeds(rows, metric, detect, level, adjust, power)
    print_table(plan_table(name, rows, metric, detect, level, adjust, power),
                  [plan_advice(study, found, min(r.n for r in rows))])


@click.command()
@click.argument("study")
@variant_options
@click.option("--trials", "numbers", type=click.IntRange(min=0), nargs=2, required=True,
              help="The two trial numbers (as `ablate export --per-trial` lists them).")
@storage_option
def compare(study: str, dataset: str | None, model: str | None, epochs: int | None,
            numbers: tuple[int, int], storage: str) -> None:
    """McNemar's exact test between two trials of STUDY on the same test examples, from the
    test predictions stored with each trial."""
    from ablation.analysis.evalnoise import mcnemar_exact
    from ablation.engine.results.reader import load_evidence, load_trials
    from ablation.reporting.console import print_table
    from ablation.reporting.plan import mcnemar_table

    store = _open(storage)
    name = stored_name(store, study, dataset, model, epochs)
    trials = {t.number: t for t in load_trials(store, name)}
    evidence = load_evidence(store, name)
    found = [_stored(name, n, trials, evidence.correct) for n in numbers]
    if found[0][0] != found[1][0]:
        raise UserError(f"trials {numbers[0]} and {numbers[1]} of study {name!r} were tested on "
                        "different test sets; McNemar's test needs the same examples")
    result = mcnemar_exact(found[0][1], found[1][1])
    print_table(mcnemar_table(name, trials[numbers[0]], trials[numbers[1]], result))


def _stored(name: str, number: int, trials: dict[int, Any], correct: Any) -> Any:
    if number not in trials:
        raise UserError(f"study {name!r} has no trial {number}")
    if number not in correct:
        raise UserError(f"trial {number} of study {name!r} has no stored test predictions "
                        "(it did not complete, ran before ablate stored them, or its --trainer "
                        "returned none)")
    return correct[number]
