"""Seeded simulation of the ``--until-resolved`` rule: its family-wise false-positive rate under
the null (every cell equal to the baseline), beside naive optional stopping on the same draws.

Per simulated study: a baseline and ``cells`` cells, each seed s giving value
``mean + sd * (sqrt(rho) * shared_s + sqrt(1 - rho) * own)`` (the seed is noise all cells share;
rho is its share of the variance), ``shift`` sds added to every cell. Rounds follow
:func:`ablation.analysis.sequential.planned_looks`; a cell stops at its first better/worse
verdict, the others go on to the last look. The paired t-tests of all simulations are made at
once by ``scipy.stats.ttest_rel`` along the seed axis, and the thresholds come from
:func:`ablation.analysis.sequential.look_level`, so the rule simulated is the rule decided by
:func:`ablation.analysis.sequential.sequential_decision` (tests/analysis checks they agree).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from ablation.analysis.sequential import DESIGNS, HAYBITTLE_PETO, look_level, planned_looks

NORMAL, HEAVY = "normal", "heavy"  # heavy: Student t with 3 df, scaled to unit variance
MEAN, SD = 97.0, 0.3  # percent; sd 0.3 points is the MNIST-4k study's nadam spread over seeds


@dataclass(frozen=True)
class SimResult:
    """One design's outcome over the simulated studies."""

    design: str
    noise: str
    sims: int
    cells: int
    looks: tuple[int, ...]
    level: float
    shift: float  # true difference of every cell, in sds (0: the null)
    rejections: int  # studies with at least one better/worse verdict
    rate: float  # rejections / sims: the family-wise false-positive rate when shift = 0
    ci: tuple[float, float]  # Clopper-Pearson 95% interval of the rate
    mean_seeds: float  # seeds a cell had when it stopped, averaged over cells and studies


def draw_studies(seed: int, sims: int, cells: int, max_seeds: int, rho: float = 0.5,
                 noise: str = NORMAL, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Baseline values (sims x seeds) and cell values (sims x cells x seeds), seeded."""
    rng = np.random.default_rng(seed)

    def unit(*shape: int) -> np.ndarray:
        if noise == HEAVY:
            return rng.standard_t(3, size=shape) / np.sqrt(3.0)
        if noise == NORMAL:
            return rng.standard_normal(shape)
        raise ValueError(f"unknown noise {noise!r}")

    shared = np.sqrt(rho) * unit(sims, 1, max_seeds)
    base = MEAN + SD * (shared[:, 0] + np.sqrt(1 - rho) * unit(sims, max_seeds))
    cell = MEAN + SD * (shift + shared + np.sqrt(1 - rho) * unit(sims, cells, max_seeds))
    return base, cell


def run_rule(base: np.ndarray, cell: np.ndarray, looks: Sequence[int], level: float,
             design: str = HAYBITTLE_PETO) -> tuple[np.ndarray, np.ndarray]:
    """Apply the rule to drawn studies: which cells were called better/worse (sims x cells)
    and with how many seeds each cell stopped."""
    sims, cells, _ = cell.shape
    open_ = np.ones((sims, cells), dtype=bool)
    called = np.zeros((sims, cells), dtype=bool)
    stopped = np.full((sims, cells), looks[-1])
    for k, n in enumerate(looks, start=1):
        b = np.broadcast_to(base[:, None, :n], (sims, cells, n))
        p = _st.ttest_rel(cell[..., :n], b, axis=-1).pvalue
        hit = open_ & (p < look_level(level, k, len(looks), cells, design))
        called |= hit
        stopped[hit] = n
        open_ &= ~hit
    return called, stopped


def simulate_rule(seed: int = 0, sims: int = 4000, cells: int = 1, start: int = 3,
                  max_seeds: int = 10, step: int = 2, level: float = 0.05, rho: float = 0.5,
                  noise: str = NORMAL, shift: float = 0.0,
                  designs: Sequence[str] = DESIGNS) -> list[SimResult]:
    """Each design's rejection rate on the same seeded draws (common random numbers)."""
    looks = planned_looks(start, max_seeds, step)
    base, cell = draw_studies(seed, sims, cells, max_seeds, rho, noise, shift)
    out = []
    for design in designs:
        called, stopped = run_rule(base, cell, looks, level, design)
        k = int(called.any(axis=1).sum())
        ci = _st.binomtest(k, sims).proportion_ci(0.95, method="exact")
        out.append(SimResult(design, noise, sims, cells, tuple(looks), level, shift, k,
                             k / sims, (float(ci.low), float(ci.high)),
                             float(stopped.mean())))
    return out
