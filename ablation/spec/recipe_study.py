"""A study file with a ``[recipe]`` (spec/recipe.py) instead of ``[axes]``: what its ``[study]``
may hold, its checks, and its recipe on a baseline changed from the command line."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ablation.config.limits import check_grid_size
from ablation.config.trainconfig import TrainConfig
from ablation.errors import UserError
from ablation.spec.choices import check_knobs as check_model_knobs
from ablation.spec.choices import check_metric, check_validation_split
from ablation.spec.recipe import Recipe, design_cells, parse_recipe
from ablation.spec.recipe_checks import adapt_epochs, check_recipe_knobs
from ablation.spec.seeds import parse_seeds

# A design fixes the configurations: nothing may sample, refine or confirm them.
_NOT_FOR_RECIPES = ("mode", "refine", "objectives", "confirm", "search_seed", "n_trials")


@dataclass(frozen=True)
class RecipeParts:
    """What a recipe study's file gives besides name, baseline and placement."""

    recipe: Recipe
    metric: str
    direction: str
    seeds: tuple[int, ...]


def recipe_keys(recipe: Recipe) -> tuple[tuple[str, Any], ...]:
    """Every key a component sets with its value: the parameters Optuna and the dashboard show."""
    return tuple(kv for c in recipe.components for kv in c.changes)


def parse_recipe_study(doc: Mapping[str, Any], study: Mapping[str, Any],
                       axes: Mapping[str, Any], baseline: TrainConfig, where: str
                       ) -> RecipeParts:
    """Check a recipe study's sections and ``[study]`` keys; parse its recipe and seeds."""
    if "recipe" not in doc:
        raise UserError(f"{where}: study.design names a recipe design; add a [recipe] table of "
                        "named components (or drop study.design)")
    if axes:
        raise UserError(f"{where}: a recipe study has no [axes]: its rows come from [recipe] "
                        "and study.design")
    bad = next((k for k in _NOT_FOR_RECIPES if k in study), None)
    if bad is not None or study.get("sampler", "grid") != "grid":
        raise UserError(f"{where}: study.{bad or 'sampler'} does not apply to a recipe study "
                        "(its design fixes the configurations); drop it")
    recipe = parse_recipe(doc["recipe"], study.get("design"), study.get("generators"),
                          baseline, where)
    check_recipe_knobs(recipe, baseline, where)
    metric, direction = check_metric(study, baseline, where)
    check_validation_split(metric, {baseline.val_fraction, *(
        v for c in recipe.components for k, v in c.changes if k == "val_fraction")}, where)
    check_model_knobs(baseline, (), "one-at-a-time", where)
    seeds = parse_seeds(study.get("seeds", 3), where)
    check_grid_size(len(design_cells(recipe)), len(seeds), where)
    return RecipeParts(recipe, metric, direction, seeds)


def recipe_on(recipe: Recipe, old: TrainConfig, new: TrainConfig, where: str) -> Recipe:
    """The recipe on an overridden baseline: keys counted in epochs follow --epochs, and every
    row is checked again."""
    adapted = adapt_epochs(recipe, old.epochs, new.epochs, where)
    raw = {c.name: dict(c.changes) for c in adapted.components}
    generators = {g: list(w) for g, w in adapted.generators} or None
    out = parse_recipe(raw, adapted.design, generators, new, where)
    check_recipe_knobs(out, new, where)
    return out
