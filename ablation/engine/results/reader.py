"""Read a stored study back as typed records (trials, curves, run records), from an open Store."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna

from ablation.analysis.metrics import METRICS
from ablation.analysis.predcodec import predictions_from_bytes
from ablation.analysis.records import (
    Evidence,
    StudyData,
    TrialRecord,
    decode_metrics,
    importance_note,
    median_trial,
    varied_params,
)
from ablation.engine.storage import db, evidence
from ablation.engine.storage.store import Store, shown_url
from ablation.errors import UserError


def resolve_study_name(store: Store, name: str) -> str:
    """The stored study called ``name``, or the only one run from it with overrides."""
    names = [s.study_name for s in optuna.get_all_study_summaries(store.optuna)]
    if name in names:
        return name
    variants = sorted(n for n in names if n.startswith(f"{name}["))
    if len(variants) == 1:
        return variants[0]
    if variants:
        raise UserError(f"study {name!r} was run several ways in {shown_url(store.url)}: "
                        f"{', '.join(variants)}; name one of them in quotes")
    known = ", ".join(sorted(names)) or "none"
    raise UserError(f"no study {name!r} in {shown_url(store.url)}; stored studies: {known}")


def check_ablate_study(store: Store, name: str) -> None:
    """Refuse, in one line, a study Optuna alone wrote (no ablate records): its tables, verdicts
    and exports would be a traceback or a row that means nothing."""
    from ablation.engine.storage.schema import has_table

    study = optuna.load_study(study_name=name, storage=store.optuna)
    if "fingerprint" in study.user_attrs or "spec" in study.user_attrs:
        return
    if has_table(store.engine, db.POINTS.name) and db.list_points(store.engine, name):
        return
    raise UserError(f"study {name!r} in {shown_url(store.url)} is a plain Optuna study (ablate "
                    "did not run it, so it has no ablate records): show, export and report read "
                    "studies run by ablate; open it with optuna-dashboard or optuna.load_study")


def sibling_variants(store: Store, spec_name: str, storage_name: str) -> dict[str, int]:
    """Other stored variants of study ``spec_name`` (other --dataset/--model/--epochs) with
    their trial counts, when ``storage_name`` itself is not stored yet: a run about to start a
    new study beside them (``--seeds 5`` with other overrides than the first run's)."""
    summaries = optuna.get_all_study_summaries(store.optuna)
    names = {s.study_name: s.n_trials for s in summaries}
    if storage_name in names:
        return {}
    return {n: k for n, k in names.items() if n == spec_name or n.startswith(f"{spec_name}[")}


def compared_metric(store: Store, study_name: str) -> str:
    """The metric a stored study's table compares: the test-side counterpart of the metric the
    study selects on (its stored spec record says which; test accuracy where none is stored)."""
    study = optuna.load_study(study_name=study_name, storage=store.optuna)
    selected = study.user_attrs.get("spec", {}).get("metric")
    if selected not in METRICS:
        return "test_accuracy"
    return METRICS.get(selected).compared


def baseline_chance(store: Store, study_name: str) -> float | None:
    """Chance level of the baseline's test set: the share of its largest class (what always
    guessing that class scores), from a complete baseline trial's confusion matrix."""
    study = optuna.load_study(study_name=study_name, storage=store.optuna)
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        confusion = t.user_attrs.get("confusion")
        if t.user_attrs.get("is_baseline") and isinstance(confusion, list) and confusion:
            counts = [sum(row) for row in confusion]
            return max(counts) / sum(counts) if sum(counts) else None
    return None


def load_trials(store: Store, study_name: str) -> list[TrialRecord]:
    """Every trial of a stored study as a TrialRecord (metrics through the typed decoder).

    Studies stored by older versions held the seed among the Optuna parameters; it is read from
    the ``seed`` user attribute either way and left out of ``params``.
    """
    study = optuna.load_study(study_name=study_name, storage=store.optuna)
    out = []
    for t in study.get_trials(deepcopy=False):
        attrs = t.user_attrs
        params = {k: v for k, v in t.params.items() if k != "seed"}
        out.append(TrialRecord(t.number, t.state.name.lower(), str(attrs.get("axis", "")),
                               str(attrs.get("label", "")), int(attrs.get("seed", -1)),
                               params, decode_metrics(attrs),
                               t.values[0] if t.values else None,  # the first objective
                               bool(attrs.get("is_baseline", False))))
    return out


def trial_attrs(store: Store, study_name: str, number: int) -> dict[str, Any]:
    """User attributes of one trial (confusion matrix, artifact ids, ...)."""
    study = optuna.load_study(study_name=study_name, storage=store.optuna)
    for t in study.get_trials(deepcopy=False):
        if t.number == number:
            return dict(t.user_attrs)
    raise UserError(f"study {study_name!r} has no trial {number}")


def load_epochs(store: Store, study_name: str) -> list[dict[str, Any]]:
    """Per-epoch curves of every trial of a study."""
    return db.epochs(store.engine, study_name)


def param_importances(store: Store, study_name: str, params: list[str]) -> dict[str, float]:
    """Optuna's fANOVA importance of ``params`` for the study's objective (fixed seed)."""
    study = optuna.load_study(study_name=study_name, storage=store.optuna)
    # Pinned, with its settings: Optuna 5 made PED-ANOVA the default evaluator, and a report
    # must not change with the installed Optuna.
    evaluator = optuna.importance.FanovaImportanceEvaluator(n_trees=64, max_depth=64, seed=0)
    found = optuna.importance.get_param_importances(study, evaluator=evaluator, params=params)
    return {k: float(v) for k, v in found.items()}


def load_evidence(store: Store, study_name: str) -> Evidence:
    """Per trial, its per-example test correctness (stored predictions against the stored
    labels) and its test-set size (the stored confusion matrix's total)."""
    labels: dict[str, np.ndarray | None] = {}
    correct = {}
    for number, (digest, blob) in evidence.predictions(store.engine, study_name).items():
        if digest not in labels:
            raw = evidence.stored_labels(store.engine, digest)
            labels[digest] = None if raw is None else predictions_from_bytes(raw)
        truth, pred = labels[digest], predictions_from_bytes(blob)
        if truth is not None and truth.shape == pred.shape:
            correct[number] = (digest, pred == truth)
    study = optuna.load_study(study_name=study_name, storage=store.optuna)
    sizes = {t.number: int(sum(map(sum, t.user_attrs["confusion"])))
             for t in study.get_trials(deepcopy=False)
             if isinstance(t.user_attrs.get("confusion"), list)}
    return Evidence(correct, sizes)


def point_counts(store: Store, study_name: str) -> dict[str, int]:
    """How many of the study's points are pending, running, done or failed."""
    counts: dict[str, int] = {}
    for row in db.list_points(store.engine, study_name):
        counts[row.state] = counts.get(row.state, 0) + 1
    return counts


def load_looks(store: Store, study_name: str) -> list[dict[str, Any]]:
    """The looks ``run --until-resolved`` recorded (empty for a study run without it)."""
    return evidence.looks(store.engine, study_name)


def spec_record(store: Store, study_name: str) -> dict[str, Any]:
    """The study record ``run`` stored (name, metric, seeds, baseline, overrides, ...)."""
    study = optuna.load_study(study_name=study_name, storage=store.optuna)
    return dict(study.user_attrs.get("spec", {}))


def load_study_data(store: Store, study_name: str, trial: int | None = None) -> StudyData:
    """Trials, curves, one confusion matrix (``trial``, else the baseline's median seed on the
    compared metric), parameter importance where it applies, the stored study record, run
    records (environment), data sizes, looks, stored predictions and point states."""
    trials = load_trials(store, study_name)
    metric = compared_metric(store, study_name)
    shown = median_trial(trials, metric) if trial is None else trial
    confusion, sizes = None, {}
    if shown is not None:
        attrs = trial_attrs(store, study_name, shown)
        if trial is not None and "confusion" not in attrs:
            raise UserError(f"trial {trial} of study {study_name!r} has no confusion matrix "
                            "(it did not complete)")
        confusion, sizes = attrs.get("confusion"), dict(attrs.get("data_sizes", {}))
    note = importance_note(trials)
    importances = None
    if note is None:
        try:
            importances = param_importances(store, study_name, varied_params(trials))
        except (ValueError, RuntimeError) as exc:  # e.g. every trial scored the same
            note = f"Optuna could not compute parameter importance: {exc}"
    return StudyData(study_name, trials, load_epochs(store, study_name), shown, confusion,
                     importances, note, metric, spec_record(store, study_name),
                     db.runs(store.engine, study_name), sizes, load_looks(store, study_name),
                     load_evidence(store, study_name), point_counts(store, study_name))
