"""What depends on the number of epochs: pairings of epoch counts a study combines (factorial,
or a sampled search) are checked together, and ``--epochs`` lowers what may not exceed it."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from ablation.config.trainconfig import EPOCH_BOUND, JOINT_KEYS, TrainConfig
from ablation.spec.train_checks import make_train_config

if TYPE_CHECKING:  # study.py imports this module
    from ablation.spec.study import Axis, StudySpec


def check_combinations(axes: Sequence[Axis], baseline: TrainConfig, mode: str, sampled: bool,
                       where: str) -> None:
    """A study that combines axes (factorial, or a sampled search) runs every pairing of their
    values: each pairing of the extreme values of the keys checked jointly must be valid
    (each value alone was checked against the baseline already)."""
    if mode != "factorial" and not sampled:
        return
    joint = [a for a in axes if a.name in JOINT_KEYS]
    if len(joint) < 2:
        return
    ends = [sorted({min(a.choices), max(a.choices)} if a.is_grid else {a.low, a.high})
            for a in joint]
    for values in itertools.product(*ends):
        pairing = " with ".join(f"{a.name} = {v}" for a, v in zip(joint, values, strict=True))
        make_train_config({a.name: v for a, v in zip(joint, values, strict=True)},
                          f"{where}: axes ({'factorial' if mode == 'factorial' else 'search'}) "
                          f"combine {pairing}", baseline)


def fit_epochs(spec: StudySpec, epochs: int | None) -> StudySpec:
    """The study shortened to ``epochs`` (--epochs): counts of epochs that may not exceed it
    (EPOCH_BOUND: swa_epochs) are lowered to it, each change listed in ``adapted``."""
    if epochs is None:
        return spec
    base, axes, said = spec.baseline, list(spec.axes), list(spec.adapted)
    for key in EPOCH_BOUND:
        if getattr(base, key) > epochs:
            said.append(f"baseline.{key} {getattr(base, key)} -> {epochs}")
            base = replace(base, **{key: epochs})  # type: ignore[arg-type]
        for i, a in enumerate(axes):
            if a.name != key:
                continue
            if a.is_grid and max(a.choices) > epochs:
                fitted = tuple(dict.fromkeys(min(v, epochs) for v in a.choices))
                said.append(f"axes.{key} {list(a.choices)} -> {list(fitted)}")
                axes[i] = replace(a, choices=fitted)
            elif not a.is_grid and a.high is not None and a.high > epochs:
                said.append(f"axes.{key} high {a.high} -> {epochs}")
                axes[i] = replace(a, low=min(a.low or 0, epochs), high=epochs)
    return replace(spec, baseline=base, axes=tuple(axes), adapted=tuple(said))


def adapted_note(spec: StudySpec) -> str | None:
    """The line that says what --epochs lowered, or None."""
    if not spec.adapted:
        return None
    return (f"--epochs {spec.baseline.epochs}: lowered what may not exceed the epochs: "
            f"{'; '.join(spec.adapted)}")
