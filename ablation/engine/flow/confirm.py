"""Search, then confirm: the best searched configurations re-run over seeds as a grid stage.

A search trains every sampled configuration once, so its best trial is the best draw of one
seed: partly luck. Once the search's budget is finished, ``study.confirm`` takes the ``top``
configurations by the study's (validation) metric, or the points of the Pareto front read from
Optuna for several objectives, rounds their numbers to ``digits`` significant digits (so two
draws that differ in the fifth digit count as one configuration), and runs them with the
baseline over the confirm seeds as an ordinary grid study ``<study>/confirm``. Its table has the
usual statistics and verdicts against the baseline. Like the refine stage, it is a pure function
of the stored search, so a re-run derives the same stage and, its points being done, runs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from ablation.analysis.metrics import METRICS
from ablation.engine.flow.stage_summary import run_stage
from ablation.engine.options import FitFn, Progress, RunOptions, RunSummary
from ablation.engine.runners.choice import InProcess, Runner
from ablation.engine.storage.store import Store, open_store, shown_url
from ablation.engine.trials.register import open_study
from ablation.errors import UserError
from ablation.spec.search_keys import round_value
from ablation.spec.study import StudySpec, confirm_stage


def ranked_trials(study: optuna.Study, spec: StudySpec) -> list[FrozenTrial]:
    """The search's candidates, best first: complete trials by the study's value, or for
    several objectives the Pareto front (Optuna's best_trials) ordered by the first objective.
    Ties go to the earlier trial, so the order does not depend on storage order."""
    if spec.objectives:
        trials = list(study.best_trials)
    else:
        trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                  if t.values]
    sign = -1.0 if METRICS.get(spec.metric).higher_is_better else 1.0
    return sorted(trials, key=lambda t: (sign * t.values[0], t.number))


def rounded(spec: StudySpec, params: Mapping[str, Any], digits: int) -> dict[str, Any]:
    """A trial's values of the searched axes rounded to ``digits`` significant digits and kept
    inside each range (rounding 0.9496 to 0.95 must not leave a range that ends at 0.949)."""
    out = {}
    for axis in spec.axes:
        value = round_value(params[axis.name], digits)
        if not axis.is_grid and isinstance(value, float):
            assert axis.low is not None and axis.high is not None
            value = min(max(value, float(axis.low)), float(axis.high))
        out[axis.name] = value
    return out


def distinct_configurations(spec: StudySpec, ranked: Sequence[Mapping[str, Any]],
                            ) -> list[dict[str, Any]]:
    """The ranked configurations, rounded, without repeats and without the baseline's."""
    assert spec.confirm is not None
    base = {a.name: getattr(spec.baseline, a.name) for a in spec.axes}
    out: list[dict[str, Any]] = []
    for params in ranked:
        config = rounded(spec, params, spec.confirm.digits)
        if config != base and config not in out:
            out.append(config)
    return out


def spread(items: Sequence[Any], k: int) -> list[Any]:
    """``k`` items evenly spaced along ``items``, both ends included (all when there are few)."""
    if len(items) <= k:
        return list(items)
    if k == 1:
        return [items[0]]
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)]


def chosen_configurations(study: optuna.Study, spec: StudySpec) -> list[dict[str, Any]]:
    """What the confirm stage runs besides the baseline: the top distinct configurations, or
    ``top`` points spread along the Pareto front (its ends included)."""
    assert spec.confirm is not None
    configs = distinct_configurations(spec, [t.params for t in ranked_trials(study, spec)])
    if spec.objectives:
        return spread(configs, spec.confirm.top)
    return configs[:spec.confirm.top]


def run_search_stages(spec: StudySpec, options: RunOptions, fit_fn: FitFn,
                      progress: Progress | None = None, runner: Runner | None = None,
                      store: Store | None = None) -> list[RunSummary]:
    """Run the search; once its budget is finished, its confirm stage.

    ``options.max_trials`` is one budget for both. ``runner`` runs one stage (default: this
    process).
    """
    store = store or open_store(options.storage_url, grace_seconds=options.grace_seconds)
    runner = runner or InProcess(fit_fn, store, progress)
    first = run_stage(runner, store, spec, options)
    if spec.confirm is None or first.remaining:
        return [first]
    budget = None if options.max_trials is None else options.max_trials - first.ran
    study = optuna.load_study(study_name=spec.storage_name, storage=store.optuna)
    chosen = chosen_configurations(study, spec)
    if not chosen:
        raise UserError(f"study {spec.storage_name!r}: no complete search trial differs from "
                        "the baseline after rounding; nothing to confirm")
    stage = confirm_stage(spec, chosen)
    _check_same_candidates(store, stage)
    if budget == 0:
        return [first]
    open_study(stage, store)  # created here so its origin is recorded before any trial runs
    _note_origin(store, stage, spec, chosen)
    return [first, run_stage(runner, store, stage, replace(options, max_trials=budget))]


def _check_same_candidates(store: Store, stage: StudySpec) -> None:
    """Refuse to mix new winners into a stored confirm stage derived from another search."""
    try:
        study = optuna.load_study(study_name=stage.storage_name, storage=store.optuna)
    except KeyError:
        return
    before = study.user_attrs.get("derived_from", {}).get("configurations")
    now = [label for label, _ in stage.candidates]
    if before is not None and before != now:
        raise UserError(f"study {stage.storage_name!r} in {shown_url(store.url)} confirms "
                        f"{'; '.join(before)}, but the search now ranks {'; '.join(now)} "
                        "first (its budget grew?); use another --storage or rename the study")


def _note_origin(store: Store, stage: StudySpec, search: StudySpec,
                 chosen: Sequence[Mapping[str, Any]]) -> None:
    """Record in the confirm study where its configurations came from (readable in the
    dashboard and by ``show``)."""
    study = optuna.load_study(study_name=stage.storage_name, storage=store.optuna)
    assert search.confirm is not None
    study.set_user_attr("derived_from", {
        "study": search.storage_name, "sampler": search.sampler, "n_trials": search.n_trials,
        "metric": search.metric, "objectives": list(search.objectives),
        "digits": search.confirm.digits,
        "configurations": [label for label, _ in stage.candidates],
        "values": [dict(c) for c in chosen]})
    search_study = optuna.load_study(study_name=search.storage_name, storage=store.optuna)
    search_study.set_user_attr("confirm_stage", stage.storage_name)


def stored_confirm_stage(store: Store, name: str) -> str | None:
    """The stored confirm stage of search study ``name``, or None (not a search, or not yet)."""
    study = optuna.load_study(study_name=name, storage=store.optuna)
    stage = study.user_attrs.get("confirm_stage")
    return str(stage) if stage else None
