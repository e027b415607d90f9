"""Effects of a two-level (factorial or regular fractional) recipe design, paired by seed:
per seed, each component's main effect and each pair's interaction as a contrast of that
seed's runs; over seeds, the contrasts' mean with its interval and the study's verdict rule.

Pure functions (no I/O). Definitions (docs/study-files.md, "factorial"):
- main effect of A: mean(y | A on) - mean(y | A off), over every run of the design;
- interaction A x B: (effect of A with B on) - (effect of A with B off), i.e. how much more A
  adds when B is there (twice the textbook ±1-coded interaction effect).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Run = frozenset[str]  # the components switched on in one run of the design


@dataclass(frozen=True)
class Effect:
    """One estimated effect: its factors (one: main effect; two: interaction) and its value
    on every seed that ran every run of the design."""

    factors: tuple[str, ...]
    per_seed: dict[int, float]

    @property
    def name(self) -> str:
        """'swa' or 'swa × prune'."""
        return " × ".join(self.factors)


def complete_seeds(cells: Mapping[Run, Mapping[int, float]]) -> list[int]:
    """Seeds on which every run of the design has a value (the blocks a contrast can use)."""
    seeds = set.intersection(*(set(v) for v in cells.values())) if cells else set()
    return sorted(seeds)


def _signs(runs: Sequence[Run], factors: tuple[str, ...]) -> np.ndarray:
    """±1 of each run for a main effect (on: +1) or the product of two factors' signs."""
    out = np.ones(len(runs))
    for f in factors:
        out *= np.array([1.0 if f in r else -1.0 for r in runs])
    return out


def contrast_value(values: np.ndarray, signs: np.ndarray, factors: int) -> float:
    """mean(+) - mean(-) for a main effect; for an interaction, twice that (the difference of
    A's effect between B on and B off, as the module says)."""
    plus, minus = values[signs > 0], values[signs < 0]
    if not len(plus) or not len(minus):
        raise ValueError("an effect needs runs on both sides (a balanced two-level design)")
    diff = float(plus.mean() - minus.mean())
    return diff if factors == 1 else 2 * diff


def effects(cells: Mapping[Run, Mapping[int, float]], names: Sequence[str],
            interactions: bool = True) -> list[Effect]:
    """Main effects of ``names`` in order, then every pair's interaction, per complete seed."""
    runs = list(cells)
    seeds = complete_seeds(cells)
    wanted: list[tuple[str, ...]] = [(n,) for n in names]
    if interactions:
        wanted += list(itertools.combinations(names, 2))
    out = []
    for factors in wanted:
        signs = _signs(runs, factors)
        per_seed = {s: contrast_value(np.array([cells[r][s] for r in runs]), signs,
                                      len(factors)) for s in seeds}
        out.append(Effect(factors, per_seed))
    return out


def zero_reference(effect_list: Sequence[Effect]) -> dict[int, float]:
    """A reference of 0 on every seed any effect has: testing a per-seed contrast against it,
    paired by seed, is the one-sample t-test of the contrast (the verdict code's own rule)."""
    return {s: 0.0 for e in effect_list for s in e.per_seed}


def step_differences(cells: Sequence[Mapping[int, float]]) -> list[dict[int, float]]:
    """Per seed, each row minus the row before it (the first row has no step)."""
    return [{s: b[s] - a[s] for s in sorted(set(a) & set(b))}
            for a, b in itertools.pairwise(cells)]
