"""Register a study: check what a user can get wrong, then create (or reopen) the Optuna study and
add its points to ``ablate_points``. Everything checkable is checked before the first write."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import optuna
from sqlalchemy import exc as sa_exc

from ablation.analysis.metrics import METRICS
from ablation.engine.options import RunOptions
from ablation.engine.storage import db
from ablation.engine.storage.store import Store, shown_url
from ablation.engine.trials.preflight import check_points
from ablation.errors import UserError
from ablation.sampling.pruners import PRUNERS
from ablation.sampling.samplers import SAMPLERS
from ablation.spec.recipe import recipe_record
from ablation.spec.space import Point, fingerprint, grid_points
from ablation.spec.study import StudySpec


def check_ready(spec: StudySpec, options: RunOptions) -> list[Point]:
    """The study's points, once its data sets load and its artifacts folder is writable."""
    if not SAMPLERS.get(spec.sampler).searches_ranges and not all(a.is_grid for a in spec.axes):
        raise UserError(f"{spec.source}: low/high axes need a sampler that searches ranges; "
                        f"sampler {spec.sampler!r} runs the listed 'choices' only")
    from ablation.data.datasets import load_raw  # torch: not for workers that only claim

    points = grid_points(spec)  # a search's choice axes (dataset, say) are among these too
    for name in sorted({p.config.dataset for p in points}):
        load_raw(name, str(options.data_dir))
    check_points(points, options.data_dir)
    _check_artifacts_dir(options.artifacts_dir)
    return [] if spec.is_search else points


def _check_artifacts_dir(path: Path | str) -> None:
    """Artifacts and checkpoints must be writable before the first trial starts (nothing is
    created here: the first trial makes the folder)."""
    if isinstance(path, str):  # s3://bucket/prefix
        from ablation.engine.storage.artifact_store import check_bucket

        return check_bucket(path)
    existing = next(p for p in (path, *path.parents) if p.exists() or p == Path(p.anchor))
    if not existing.is_dir():
        raise UserError(f"--artifacts {path}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"--artifacts {path}: {existing} is not writable")


def spec_record(spec: StudySpec) -> dict[str, Any]:
    """What the study stores about itself (readable in optuna-dashboard and by ``show``)."""
    return {"name": spec.name, "source": spec.source, "metric": spec.metric,
            "direction": spec.direction, "mode": spec.mode, "sampler": spec.sampler,
            "objectives": list(spec.objectives),
            "axes": [a.name for a in spec.axes], "seeds": list(spec.seeds),
            "baseline": spec.baseline.describe(), "overrides": dict(spec.overrides),
            "margin": spec.margin,
            **({"recipe": recipe_record(spec.recipe)} if spec.recipe is not None else {})}


def _direction(metric: str) -> optuna.study.StudyDirection:
    return (optuna.study.StudyDirection.MAXIMIZE if METRICS.get(metric).higher_is_better
            else optuna.study.StudyDirection.MINIMIZE)


def open_study(spec: StudySpec, store: Store) -> optuna.Study:
    """Create or reopen the study's Optuna study; refuse one stored from other baseline or axes."""
    metrics = spec.objectives or (spec.metric,)
    study = optuna.create_study(storage=store.optuna, study_name=spec.storage_name,
                                directions=[_direction(m) for m in metrics],
                                sampler=SAMPLERS.get(spec.sampler).build(spec, spec.search_seed),
                                pruner=PRUNERS.get(spec.pruner).build(), load_if_exists=True)
    stored = study.user_attrs.get("fingerprint")
    if stored is not None and stored != fingerprint(spec):
        raise UserError(f"study {spec.storage_name!r} in {shown_url(store.url)} was created from "
                        "a different baseline or axes; give the study a new name or use another "
                        "--storage")
    if stored is None:
        try:
            study.set_user_attr("fingerprint", fingerprint(spec))
            study.set_user_attr("spec", spec_record(spec))
            study.set_metric_names([METRICS.get(m).name for m in metrics])
        except (optuna.exceptions.StorageInternalError, sa_exc.IntegrityError):
            # Two workers created the study together and both wrote these; keep the first.
            if study.user_attrs.get("fingerprint") != fingerprint(spec):
                raise
    else:
        _follow_top_up(study, spec)
    return study


def _follow_top_up(study: optuna.Study, spec: StudySpec) -> None:
    """The stored record lists every seed the study was ever run with (``--seeds 7`` after
    3: seeds 0..6), so what it says matches the trials stored under it."""
    record = dict(study.user_attrs.get("spec", {}))
    seeds = list(dict.fromkeys([*record.get("seeds", []), *spec.seeds]))
    if record and seeds != record.get("seeds"):
        # Another worker of the same top-up may write it at the same moment.
        with contextlib.suppress(optuna.exceptions.StorageInternalError, sa_exc.IntegrityError):
            study.set_user_attr("spec", {**record, "seeds": seeds})


def register(spec: StudySpec, options: RunOptions, store: Store
             ) -> tuple[optuna.Study, list[Point]]:
    """Check, open the study and add its points (idempotent: re-registering adds nothing)."""
    points = check_ready(spec, options)
    study = open_study(spec, store)
    db.create_tables(store.engine)
    db.add_points(store.engine, spec.storage_name, (p.as_row() for p in points))
    return study, points
