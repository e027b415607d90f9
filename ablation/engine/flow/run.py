"""Running a study, the one entry point (``ablate run``): every stage (grid, refine, search,
confirm, or the rounds of --until-resolved) on the chosen runner, one summary per stage
measured the same way, and each stored study's dashboard note written once, on every path."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ablation.engine.flow.confirm import run_search_stages
from ablation.engine.flow.rounds import Rounds, run_until_resolved
from ablation.engine.flow.stage_summary import measure, summary
from ablation.engine.flow.stages import run_stages
from ablation.engine.options import FitFn, Progress, RunOptions, RunSummary, Silent
from ablation.engine.results.notes import note_search, note_stage
from ablation.engine.runners.choice import Runner, choose_runner
from ablation.engine.runners.device_plan import Placement
from ablation.engine.runners.local import ProgressFactory
from ablation.engine.runners.ray_launcher import RayPlan
from ablation.engine.storage.store import Store
from ablation.spec.study import StudySpec


@dataclass(frozen=True)
class RunPlan:
    """How a study runs (what runs is the StudySpec; where it is stored, RunOptions)."""

    workers: int = 1
    placements: tuple[Placement, ...] = ()
    ray: RayPlan | None = None
    rounds: Rounds | None = None  # --until-resolved: seeds added in rounds to open cells


@dataclass(frozen=True)
class Display:
    """What the engine shows while it runs (the CLI passes its console's; tests, nothing)."""

    progress: Progress = field(default_factory=Silent)  # trials run in this process
    workers: ProgressFactory | None = None  # trials run by worker processes or Ray tasks
    say: Callable[[str], None] = lambda _: None  # a line between stages or rounds


def run(spec: StudySpec, options: RunOptions, trainer: FitFn, store: Store,
        plan: RunPlan = RunPlan(), display: Display = Display()) -> list[RunSummary]:
    """Run every stage of ``spec`` that can run now; one summary per stored study."""
    runner = choose_runner(trainer, store, workers=plan.workers, placements=plan.placements,
                           ray=plan.ray, progress=display.progress,
                           worker_progress=display.workers)
    if plan.rounds is not None:
        summaries = [_rounds(spec, options, plan.rounds, runner, store, display.say)]
    elif spec.is_search:
        summaries = run_search_stages(spec, options, trainer, runner=runner, store=store)
    else:
        summaries = run_stages(spec, options, trainer, runner=runner, store=store)
    write_notes(store, spec, summaries)
    return summaries


def _rounds(spec: StudySpec, options: RunOptions, rounds: Rounds, runner: Runner, store: Store,
            say: Callable[[str], None]) -> RunSummary:
    """All rounds of --until-resolved as one summary: they fill one stored study."""
    _, before = measure(store, spec)
    run_until_resolved(spec, options, rounds, runner, store, say)
    return summary(store, spec, before)


def write_notes(store: Store, spec: StudySpec, summaries: Sequence[RunSummary]) -> None:
    """Each stored study's optuna-dashboard note: a grid stage's table; a search's account
    of itself, with its confirmed table once the confirm stage ran."""
    names = [s.study_name for s in summaries]
    if spec.is_search:
        confirm = names[1] if len(names) > 1 else None  # the confirm stage ran
        if confirm is not None:
            note_stage(store, confirm)
        note_search(store, spec, confirm)
        return
    for name in names:
        note_stage(store, name)
