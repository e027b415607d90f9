"""Commands that describe what ablate offers: studies, validate, models, datasets."""

from __future__ import annotations

import click

from ablation.cli.common import variant_options


@click.command()
def studies() -> None:
    """List the built-in studies, one line each."""
    from ablation.spec.files import builtin_studies, load_study

    for name in builtin_studies():
        spec = load_study(name)
        axes = ", ".join(a.name for a in spec.axes)
        if spec.recipe is not None:
            axes = f"{spec.recipe.design} recipe: {', '.join(spec.recipe.names)}"
        then = f"; then {name}/fine" if spec.refine else ""
        runs = f"{len(spec.seeds)} seeds"
        if spec.is_search:
            runs = f"{spec.sampler}, {spec.n_trials} trials"
            if spec.confirm:
                then = f"; then {name}/confirm x {len(spec.confirm.seeds)} seeds"
        head = "" if spec.recipe is not None else "axes: "
        click.echo(f"{name:<18} {spec.description}  [{head}{axes}; "
                   f"{runs}; {spec.baseline.dataset}{then}]")


@click.command()
@click.argument("study")
@variant_options
@click.option("--seeds", type=click.IntRange(min=1, max=1000),
              help="Number of seeds per configuration, as for run.")
@click.option("--n-trials", type=click.IntRange(min=1), default=None,
              help="A sampled search's trial budget, as for run.")
def validate(study: str, dataset: str | None, model: str | None, epochs: int | None,
             seeds: int | None, n_trials: int | None) -> None:
    """Check STUDY (a .toml/.yaml file or a built-in name) without running it, with the
    overrides ``run`` takes (--dataset, --model, --epochs, --seeds, --n-trials).

    Every check ``run`` makes of the study itself is made here (not the data files or storage).
    """
    from ablation.spec.epochs import adapted_note
    from ablation.spec.files import load_study
    from ablation.spec.space import plan_summary
    from ablation.spec.study import with_overrides

    spec = with_overrides(load_study(study), seeds=seeds, n_trials=n_trials, dataset=dataset,
                          model=model, epochs=epochs)
    if adapted_note(spec) is not None:
        click.echo(adapted_note(spec))
    click.echo(f"ok {spec.source}: {plan_summary(spec)}")


@click.command()
def models() -> None:
    """List the models with the configuration keys (knobs) each one reads."""
    from ablation.models import MODELS

    for name in MODELS:
        info = MODELS.get(name)
        knobs = ", ".join(info.uses) or "none"
        note = f"  ({info.note})" if info.note else ""
        click.echo(f"{name:<12} reads: {knobs}{note}")


@click.command()
def datasets() -> None:
    """List the data sets with their sizes and where they come from."""
    from ablation.data.datasets import DATASETS

    for name in DATASETS:
        info = DATASETS.get(name)
        click.echo(f"{name:<16} {info.size}; {info.source}")
