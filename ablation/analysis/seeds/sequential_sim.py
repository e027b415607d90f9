"""Seeded simulation of the sequential rule (``--until-resolved`` and the default of ``run``):
how often it calls cells better / worse / equivalent, on the same draws for every design.

Per simulated study: a baseline and ``cells`` cells, each seed s giving value
``mean + sd * (sqrt(rho) * shared_s + sqrt(1 - rho) * own)`` (the seed is noise all cells share;
rho is its share of the variance), ``shift`` sds added to every cell. Rounds follow
:func:`ablation.analysis.seeds.sequential.planned_looks`; a cell stops at its first verdict, the
others go on to the last look. The tests of all simulations are made at once along the seed
axis, and the thresholds come from
:func:`ablation.analysis.seeds.sequential.look_level`, so the rule
simulated is the rule decided by :func:`ablation.analysis.seeds.sequential.sequential_decision`
(tests/analysis checks that they agree decision for decision). benchmarks/calibration.py
measures the rule through ``sequential_decision`` itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from ablation.analysis.seeds.sequential import DESIGNS, HAYBITTLE_PETO, look_level, planned_looks

NORMAL, HEAVY = "normal", "heavy"  # heavy: Student t with 3 df, scaled to unit variance
MEAN, SD = 97.0, 0.3  # percent; sd 0.3 points is the MNIST-4k study's nadam spread over seeds
OPEN, CALLED, EQUIV = 0, 1, 2  # a cell's state in run_rule: open, better/worse, equivalent


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


def _look(d: np.ndarray, threshold: float, margin: float | None) -> tuple[np.ndarray, ...]:
    """Paired t test and TOST of differences d (.. x n) at one threshold, as
    ``sequential_decision`` makes them: (called, equivalent), no spread deciding nothing."""
    n = d.shape[-1]
    mean, sd = d.mean(axis=-1), d.std(axis=-1, ddof=1)
    spread = sd > 0
    se = np.where(spread, sd, 1.0) / np.sqrt(n)
    p = 2 * _st.t.sf(np.abs(mean) / se, n - 1)
    called = spread & (p < threshold) & (mean != 0)
    if margin is None:
        return called, np.zeros_like(called)
    half = _st.t.ppf(1 - threshold, n - 1) * se
    equiv = spread & ~called & (mean - half > -margin) & (mean + half < margin)
    return called, equiv


def run_rule(base: np.ndarray, cell: np.ndarray, looks: Sequence[int], level: float,
             design: str = HAYBITTLE_PETO,
             margin: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Apply the rule to drawn studies: each cell's state (OPEN, CALLED better/worse, EQUIV;
    sims x cells) and the seeds it had when it stopped (the last look when it never did)."""
    sims, cells, _ = cell.shape
    state = np.full((sims, cells), OPEN)
    stopped = np.full((sims, cells), looks[-1])
    for k, n in enumerate(looks, start=1):
        d = cell[..., :n] - base[:, None, :n]
        called, equiv = _look(d, look_level(level, k, len(looks), cells, design), margin)
        open_ = state == OPEN
        state[open_ & called] = CALLED
        state[open_ & equiv] = EQUIV
        stopped[open_ & (called | equiv)] = n
    return state, stopped


def simulate_rule(seed: int = 0, sims: int = 4000, cells: int = 1, start: int = 3,
                  max_seeds: int = 10, step: int = 2, level: float = 0.05, rho: float = 0.5,
                  noise: str = NORMAL, shift: float = 0.0,
                  designs: Sequence[str] = DESIGNS) -> list[SimResult]:
    """Each design's better/worse rate on the same seeded draws (common random numbers)."""
    looks = planned_looks(start, max_seeds, step)
    base, cell = draw_studies(seed, sims, cells, max_seeds, rho, noise, shift)
    out = []
    for design in designs:
        state, stopped = run_rule(base, cell, looks, level, design)
        k = int((state == CALLED).any(axis=1).sum())
        ci = _st.binomtest(k, sims).proportion_ci(0.95, method="exact")
        out.append(SimResult(design, noise, sims, cells, tuple(looks), level, shift, k,
                             k / sims, (float(ci.low), float(ci.high)),
                             float(stopped.mean())))
    return out
