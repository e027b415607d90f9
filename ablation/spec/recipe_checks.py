"""Checks of a recipe against what training reads: a component must set knobs that the model,
the optimizer and the rest of its configuration read, in every row it is switched on; and
keys counted in epochs follow ``--epochs``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ablation.config.trainconfig import TrainConfig
from ablation.errors import UserError
from ablation.spec.choices import MODEL_KNOBS
from ablation.spec.recipe import Component, Recipe, cell_config, design_cells
from ablation.training.optim import OPTIMIZERS


def _optimizer_reads_momentum(cfg: TrainConfig) -> bool:
    return "momentum" in OPTIMIZERS.get(cfg.optimizer).uses


# key -> (does this configuration read it?, what the reader needs): knobs that are ignored
# unless another key turns their mechanism on (training/fit.py, compression/).
_READ_WHEN: dict[str, tuple[Callable[[TrainConfig], bool], str]] = {
    "momentum": (_optimizer_reads_momentum, "an optimizer that takes momentum (sgd, "
                 "sgd-nesterov, rmsprop)"),
    "swa_lr": (lambda c: c.swa_epochs > 0, "swa_epochs > 0"),
    "prune_scope": (lambda c: c.prune > 0, "prune > 0"),
    "prune_finetune": (lambda c: c.prune > 0, "prune > 0"),
    "warmup": (lambda c: c.schedule == "onecycle", "schedule = \"onecycle\""),
    "dst_interval": (lambda c: c.dst_sparsity > 0, "dst_sparsity > 0"),
    "dst_drop": (lambda c: c.dst_sparsity > 0, "dst_sparsity > 0"),
}


def _model_reads(model: str, key: str) -> bool:
    from ablation.models import MODELS

    return key in MODELS.get(model).uses


def _check_component(c: Component, cfg: TrainConfig, row: str, where: str) -> None:
    for key, _ in c.changes:
        if key in MODEL_KNOBS and not _model_reads(cfg.model, key):
            raise UserError(f"{where}: recipe.{c.name} sets {key}, which model {cfg.model!r} "
                            f"does not read (row {row!r}): the component would change nothing; "
                            "drop the key or choose a model that reads it")
        rule = _READ_WHEN.get(key)
        if rule is not None and not rule[0](cfg):
            raise UserError(f"{where}: recipe.{c.name} sets {key}, which training ignores "
                            f"without {rule[1]} (row {row!r}); set that in the same component "
                            "or in the baseline, or drop the key")


def check_recipe_knobs(recipe: Recipe, baseline: TrainConfig, where: str) -> None:
    """Every component's keys are read in every row that switches it on."""
    for cell in design_cells(recipe):
        cfg = cell_config(recipe, baseline, cell.on)
        for c in recipe.components:
            if c.name in cell.on:
                _check_component(c, cfg, cell.label, where)


SWA_MIN_EPOCHS = 2  # SWA averages the last epochs, after at least one epoch of training


def min_epochs(recipe: Recipe | None) -> int:
    """The fewest epochs every row of ``recipe`` can train for (2 once a component uses SWA)."""
    swa = recipe is not None and any(
        isinstance(v, int) and v > 0
        for c in recipe.components for k, v in c.changes if k == "swa_epochs")
    return SWA_MIN_EPOCHS if swa else 1


def adapt_epochs(recipe: Recipe, old: int, new: int, where: str) -> Recipe:
    """The recipe for a run of ``new`` epochs instead of ``old``: swa_epochs keeps its share
    of training (study 000 averaged the late epochs), at least 1 and below ``new``."""
    if new == old:
        return recipe
    out = []
    for c in recipe.components:
        changes = dict(c.changes)
        swa = changes.get("swa_epochs")
        if isinstance(swa, int) and swa > 0:
            if new < SWA_MIN_EPOCHS:
                raise UserError(f"{where}: --epochs {new}: recipe.{c.name} averages the last "
                                f"epochs (SWA) and needs at least {SWA_MIN_EPOCHS}; give --epochs "
                                f"{SWA_MIN_EPOCHS} or more")
            changes["swa_epochs"] = min(new - 1, max(1, round(swa * new / old)))
        out.append(replace(c, changes=tuple(changes.items())))
    return replace(recipe, components=tuple(out))
