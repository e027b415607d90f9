"""The keys of a sampled search: range axes (``low``/``high``/``log``/``step``), the search seed,
``objectives`` and the ``confirm`` stage, and the confirm stage's study itself.

A search trains each sampled configuration once, on one seed, so its best trial is partly luck;
``confirm`` re-runs the best configurations and the baseline over several seeds as an ordinary
grid stage stored as ``<study>/confirm``, whose table carries the usual statistics and verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ablation.analysis.metrics import METRICS, TEST, VAL, selectable
from ablation.config.trainconfig import TRAIN_FIELDS, TrainConfig, is_int_field
from ablation.errors import UserError
from ablation.spec.train_checks import coerce_value, make_train_config

CONFIRM_SUFFIX = "/confirm"  # storage name of a search's confirm stage: "<study>/confirm"
CONFIRM_AXIS = "confirm"  # the axis name of the confirmed configurations in tables
CONFIRM_KEYS = ("top", "seeds", "digits")
MAX_TRIALS = 10_000  # a typo such as n_trials = 300000 should not run for months


@dataclass(frozen=True)
class Confirm:
    """Re-run the ``top`` searched configurations (distinct after rounding every number to
    ``digits`` significant digits) and the baseline over ``seeds``."""

    top: int = 3
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    digits: int = 2


@dataclass(frozen=True)
class Range:
    """The bounds of a range axis as parsed (int or float as the TrainConfig field is)."""

    low: float
    high: float
    log: bool = False
    step: float | None = None


def parse_range(name: str, raw: Mapping[str, Any], baseline: TrainConfig, at: str) -> Range:
    """``low``/``high`` (``log``, ``step``) of a range axis; both ends must be valid values."""
    if "low" not in raw or "high" not in raw:
        raise UserError(f"{at}: needs 'choices' or both 'low' and 'high'")
    if str(TRAIN_FIELDS[name].type) not in ("int", "float"):
        raise UserError(f"{at}: a range needs a number-valued key; {name} takes listed values: "
                        "give 'choices'")
    low, high = (coerce_value(name, raw[k], f"{at}.{k}") for k in ("low", "high"))
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise UserError(f"{at}.log: must be true or false, got {log!r}")
    if not isinstance(low, int | float) or isinstance(low, bool) or not low < high:
        raise UserError(f"{at}: needs numbers with low < high, got low={low!r} high={high!r}")
    if log and low <= 0:
        raise UserError(f"{at}: log scale needs low > 0, got {low!r}")
    step = _parse_step(name, raw.get("step"), low, high, log, at)
    for v in (low, high):
        make_train_config({name: v}, at, baseline)
    return Range(low, high, log, step)


def _parse_step(name: str, step: Any, low: float, high: float, log: bool,
                at: str) -> float | None:
    if step is None:
        return None
    if isinstance(step, bool) or not isinstance(step, int | float) or not step > 0 \
            or not math.isfinite(step):
        raise UserError(f"{at}.step: must be a number > 0, got {step!r}")
    if log:
        raise UserError(f"{at}: give 'step' or 'log = true', not both (Optuna samples a log "
                        "range continuously)")
    if is_int_field(name) and not isinstance(step, int):
        raise UserError(f"{at}.step: {name} is an integer, so step must be one, got {step!r}")
    if step > high - low:
        raise UserError(f"{at}.step: {step!r} is wider than the range {low!r}..{high!r}")
    return step


def parse_n_trials(study: Mapping[str, Any], searched: bool, where: str) -> int:
    """``study.n_trials``: the search's trial budget (> 0 for a sampled study)."""
    n = study.get("n_trials", 0)
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_TRIALS:
        raise UserError(f"{where}: study.n_trials must be an integer from 0 to {MAX_TRIALS}, "
                        f"got {n!r}")
    if searched and n == 0:
        raise UserError(f"{where}: study.n_trials: a sampled search needs a trial budget > 0 "
                        "(e.g. n_trials = 30)")
    return n


def parse_search_seed(study: Mapping[str, Any], seeds: Sequence[int], where: str) -> int:
    """``study.search_seed``: the sampler's seed and every search trial's training seed."""
    seed = study.get("search_seed", seeds[0])
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise UserError(f"{where}: study.search_seed must be an integer >= 0, got {seed!r}")
    return seed


def parse_objectives(study: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """``study.objectives``: two or more selectable metrics (directions from METRICS)."""
    if "objectives" not in study:
        return ()
    raw = study["objectives"]
    allowed = selectable()
    if not isinstance(raw, list) or len(raw) < 2 or any(m not in allowed for m in raw):
        raise UserError(f"{where}: study.objectives must be a list of two or more of "
                        f"{', '.join(allowed)}, got {raw!r}")
    if len(set(raw)) != len(raw):
        raise UserError(f"{where}: study.objectives names a metric twice: {raw!r}")
    if "metric" in study and study["metric"] != raw[0]:
        raise UserError(f"{where}: study.metric {study['metric']!r} differs from the first of "
                        "study.objectives; drop study.metric (the first objective is the one "
                        "confirm tables compare)")
    return tuple(raw)


def check_search_metrics(metrics: Sequence[str], baseline: TrainConfig, where: str) -> None:
    """A search selects its winners: never on a metric measured with the test labels (it would
    choose them on the very data the confirm table reports), and a validation metric needs a
    validation split."""
    for m in metrics:
        if METRICS.get(m).split == VAL and baseline.val_fraction == 0:
            raise UserError(f"{where}: the search selects on {m!r}, but baseline.val_fraction "
                            "is 0 (no validation split); set it, e.g. 0.1")
        if METRICS.get(m).split == TEST:
            val = [n for n in selectable() if METRICS.get(n).split != TEST]
            raise UserError(f"{where}: a sampled search selects on study.metric/objectives, "
                            f"which must not be measured on the test split; {m!r} is. Use one "
                            f"of {', '.join(val)}")


def parse_confirm(raw: Any, seeds: tuple[int, ...], where: str) -> Confirm:
    """``study.confirm = { top = 3, seeds = 5, digits = 2 }``."""
    at = f"{where}: study.confirm"
    if not isinstance(raw, Mapping):
        raise UserError(f"{at}: must be a table like {{ top = 3, seeds = 5 }}")
    extra = sorted(set(raw) - set(CONFIRM_KEYS), key=str)
    if extra:
        raise UserError(f"{at}: unknown key {extra[0]!r}; allowed: {', '.join(CONFIRM_KEYS)}")
    top, digits = raw.get("top", 3), raw.get("digits", 2)
    for key, value, hi in (("top", top, 50), ("digits", digits, 10)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= hi:
            raise UserError(f"{at}.{key}: must be an integer from 1 to {hi}, got {value!r}")
    from ablation.spec.study import parse_seeds

    confirm_seeds = (parse_seeds(raw["seeds"], where, "study.confirm.seeds") if "seeds" in raw
                     else seeds)
    if len(confirm_seeds) < 2:
        raise UserError(f"{at}.seeds: confirming needs at least 2 seeds (a verdict needs a "
                        "spread), got 1")
    return Confirm(top, confirm_seeds, digits)


def round_value(value: Any, digits: int) -> Any:
    """``value`` rounded to ``digits`` significant digits (ints, strings and bools kept)."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    return value


def confirm_label(changes: Mapping[str, Any]) -> str:
    """How a confirmed configuration reads in tables: 'lr=0.0021, weight_decay=1.3e-05'."""
    return ", ".join(f"{k}={format(v, 'g') if isinstance(v, float) else v}"
                     for k, v in changes.items())
