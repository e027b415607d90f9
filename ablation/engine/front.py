"""Accuracy-vs-bytes Pareto front of a stored compression study, kept in the study and as CSV.

The engine runs single-objective studies (one metric per trial), so the front is computed after
the fact from each completed trial's ``artifact_test_accuracy`` and ``artifact_bytes`` user
attributes, averaged over seeds per configuration, and stored as the study attribute
``pareto_front``. ``python -m ablation.engine.front --storage URL --study NAME --out FILE.csv``.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import optuna

from ablation.analysis.pareto import pareto_front
from ablation.engine.store import open_store
from ablation.errors import UserError

COLUMNS = ("label", "seeds", "artifact_test_accuracy", "artifact_bytes", "on_front")


@dataclass(frozen=True)
class ParetoRow:
    """One configuration: mean accuracy and bytes over its seeds, and whether it is on the front."""

    label: str
    seeds: int
    artifact_test_accuracy: float
    artifact_bytes: float
    on_front: bool


def rows_from_trials(trials: list[optuna.trial.FrozenTrial]) -> list[ParetoRow]:
    """Group completed trials with artifact metrics by configuration and mark the front."""
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for t in trials:
        attrs = t.user_attrs
        if t.state != optuna.trial.TrialState.COMPLETE or "artifact_bytes" not in attrs:
            continue
        axis, label = attrs.get("axis", ""), str(attrs.get("label", t.number))
        if axis not in ("", "baseline", "factorial") and not label.startswith(f"{axis}="):
            label = f"{axis}={label}"
        groups[label].append((attrs["artifact_test_accuracy"], attrs["artifact_bytes"]))
    labels = sorted(groups)
    means = [(statistics.fmean(a for a, _ in groups[k]), statistics.fmean(b for _, b in groups[k]))
             for k in labels]
    front = set(pareto_front(means))
    return [ParetoRow(k, len(groups[k]), acc, size, i in front)
            for i, (k, (acc, size)) in enumerate(zip(labels, means, strict=True))]


def export(storage_url: str, study_name: str, out: Path) -> list[ParetoRow]:
    """Compute the front of ``study_name``, store it in the study and write ``out`` as CSV."""
    store = open_store(storage_url, must_exist=True)
    try:
        study = optuna.load_study(study_name=study_name, storage=store.optuna)
    except KeyError:
        raise UserError(f"no study {study_name!r} in {storage_url}") from None
    rows = rows_from_trials(study.get_trials(deepcopy=False))
    if not rows:
        raise UserError(f"study {study_name!r} has no completed trials with artifact metrics")
    study.set_user_attr("pareto_front", [r.label for r in rows if r.on_front])
    tmp = out.with_name(out.name + ".part")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for r in sorted(rows, key=lambda r: r.artifact_bytes):
            writer.writerow([r.label, r.seeds, f"{r.artifact_test_accuracy:.6f}",
                             f"{r.artifact_bytes:.0f}", int(r.on_front)])
    tmp.replace(out)
    return rows


def main() -> None:
    """Command-line entry: export one study's front."""
    parser = argparse.ArgumentParser(description="export the accuracy-vs-bytes Pareto front")
    parser.add_argument("--storage", required=True)
    parser.add_argument("--study", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    try:
        rows = export(args.storage, args.study, args.out)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"{sum(r.on_front for r in rows)} of {len(rows)} configurations on the front "
          f"-> {args.out}")


if __name__ == "__main__":
    main()
