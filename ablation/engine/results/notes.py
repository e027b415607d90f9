"""The answer in optuna-dashboard: after every stage, the study's Markdown note is its ablation
table (mean ± CI over seeds, p, verdict against the baseline), written with optuna-dashboard's
note API (``optuna_dashboard.save_note``; stored in the study's system attributes).

A dashboard user otherwise sees Optuna's "best trial", which for a grid over seeds or a one-seed
search is the luckiest draw; the note shows what held up over seeds. The search study's note
says how many trials were sampled, which single trial scored best (and that it is one seed), and
carries the confirm stage's table when there is one.
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from ablation.analysis.metrics import METRICS
from ablation.engine.results.reader import compared_metric, load_trials, spec_record
from ablation.engine.storage.store import Store
from ablation.reporting.exports import export_texts
from ablation.spec.recipe import recipe_from_record
from ablation.spec.study import StudySpec


def stage_table(store: Store, name: str) -> str:
    """The stored study's table as Markdown, compared on its table metric."""
    trials = load_trials(store, name)
    if not any(t.state == "complete" for t in trials):
        return f"### {name}\n\nNo complete trial yet.\n"
    metric = compared_metric(store, name)
    recipe = recipe_from_record(spec_record(store, name).get("recipe"))
    return export_texts(name, trials, ["markdown"], metric=metric, recipe=recipe)["markdown"]


def save(store: Store, name: str, body: str) -> None:
    """Replace the note of study ``name`` with ``body`` (Markdown)."""
    from optuna_dashboard import save_note

    save_note(optuna.load_study(study_name=name, storage=store.optuna), body)


def note_stage(store: Store, name: str) -> None:
    """Write a grid stage's table as its note."""
    save(store, name, f"## {name}\n\nWritten by ablate after the stage ran (`ablate show "
                      f"'{name}'` prints the same table).\n\n{stage_table(store, name)}")


def search_text(study: optuna.Study, spec: StudySpec) -> str:
    """What the search did, in a few lines: budget, trial states, the best single trial(s)."""
    states = [t.state for t in study.get_trials(deepcopy=False)]
    counts = ", ".join(f"{sum(s == st for s in states)} {st.name.lower()}"
                       for st in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL,
                                  TrialState.RUNNING) if st in states)
    lines = [f"## {spec.storage_name}: a sampled search", "",
             f"{len(states)} of {spec.n_trials} trials sampled by `{spec.sampler}` ({counts}), "
             f"each trained once on seed {spec.search_seed}."]
    complete = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if not complete:
        return "\n".join(lines)
    if spec.objectives:
        names = ", ".join(spec.objectives)
        front = sorted(study.best_trials, key=lambda t: t.number)
        lines.append(f"Pareto front over ({names}): trials "
                     f"{', '.join(str(t.number) for t in front)}.")
    else:
        info = METRICS.get(spec.metric)
        best = study.best_trial
        value = best.value if best.value is not None else float("nan")
        lines.append(f"Best single trial: #{best.number} ({best.user_attrs.get('label', '')}), "
                     f"{info.label} {info.shown(value):.{info.digits}f}"
                     f"{'%' if info.percent else ' ' + info.unit}: one seed, so "
                     "partly luck.")
    return "\n".join(lines)


def note_search(store: Store, spec: StudySpec, confirm_name: str | None) -> None:
    """Write the search study's note: what it did, then the confirmed table if there is one."""
    study = optuna.load_study(study_name=spec.storage_name, storage=store.optuna)
    text = search_text(study, spec)
    if confirm_name is not None:
        text += (f"\n\n## Confirmed over seeds: `{confirm_name}`\n\nThe best configurations "
                 "and the baseline, re-run over seeds; verdicts are against the baseline.\n\n"
                 + stage_table(store, confirm_name))
    elif spec.confirm is not None:
        text += (f"\n\nThe confirm stage ({spec.name}/confirm) runs once the {spec.n_trials} "
                 "search trials are finished.")
    save(store, spec.storage_name, text)
