"""What a run needs besides the study: where it stores, how it runs, which trainer, what it shows.

The trainer is an argument everywhere (``FitFn``): ablate's own ``training.fit.fit`` by default,
or a user's function named on the command line with ``--trainer module:function``, so users can
plug their own training code into ablate's engine, statistics and reports (docs/trainers.md).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ablation.analysis.records import EpochRecord, Metrics
from ablation.engine.storage.store import GRACE_SECONDS
from ablation.errors import UserError
from ablation.spec.space import Point
from ablation.spec.study import StudySpec

if TYPE_CHECKING:  # the engine's claim path runs without importing torch (light workers)
    from ablation.training.fit import FitResult

FitFn = Callable[..., "FitResult"]
# Keywords the engine passes to every trainer, besides the positional (config, seed).
TRAINER_KEYWORDS = ("data_dir", "on_epoch", "checkpoint")
# Passed only to a trainer that takes them (ablate's fit does), so older trainers keep working.
PLACEMENT_KEYWORDS = ("device", "deterministic")




class Progress(Protocol):
    """What the engine tells a display (the CLI draws it; tests may ignore it)."""

    def study_start(self, spec: StudySpec, total: int, remaining: int) -> None: ...
    def trial_start(self, point: Point, trial_number: int) -> None: ...
    def epoch(self, record: EpochRecord, epochs: int) -> None: ...
    def trial_end(self, point: Point, metrics: Metrics | None, state: str) -> None: ...
    def waiting(self, running: int, grace_seconds: int) -> None: ...


class Silent:
    """A Progress that shows nothing."""

    def study_start(self, spec: StudySpec, total: int, remaining: int) -> None: ...
    def trial_start(self, point: Point, trial_number: int) -> None: ...
    def epoch(self, record: EpochRecord, epochs: int) -> None: ...
    def trial_end(self, point: Point, metrics: Metrics | None, state: str) -> None: ...
    def waiting(self, running: int, grace_seconds: int) -> None: ...


@dataclass(frozen=True)
class RunOptions:
    """Where and how to run (not what: that is the StudySpec)."""

    storage_url: str
    artifacts_dir: Path | str  # a folder, or an s3://bucket/prefix URL (engine/artifact_store)
    data_dir: Path
    threads: int = 0  # torch threads; 0 keeps torch's default
    worker: str = ""
    max_trials: int | None = None  # stop after this many trials (the rest stay pending)
    grace_seconds: int = GRACE_SECONDS  # a running point silent this long is taken over


@dataclass(frozen=True)
class RunSummary:
    """What a run did."""

    study_name: str
    total: int
    ran: int
    already_done: int
    remaining: int


def placement_keywords(fn: Callable[..., object], device: str,
                       deterministic: bool) -> dict[str, Any]:
    """``device`` and ``deterministic`` as keywords for ``fn``: those its signature names.

    Named, not merely accepted through ``**kwargs``: such trainers often hand their keywords on
    to a function that takes only the three of TRAINER_KEYWORDS.
    """
    given = {"device": device, "deterministic": deterministic}
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    return {k: v for k, v in given.items() if k in params}


def default_trainer() -> FitFn:
    """ablate's own trainer."""
    from ablation.training.fit import fit

    return fit


def load_trainer(ref: str) -> FitFn:
    """The function ``module:function`` names, checked against the trainer contract.

    The contract is ``fit``'s: ``f(config, seed, *, data_dir, on_epoch, checkpoint)`` returning
    a FitResult. Only the command line names a trainer: a study file never makes ablate import
    code.
    """
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise UserError(f"--trainer {ref!r}: expected module:function, e.g. mypkg.train:fit")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - ImportError, or the module fails as it loads
        raise UserError(f"--trainer {ref!r}: cannot import {module_name!r} "
                        f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise UserError(f"--trainer {ref!r}: module {module_name!r} has no function {attr!r}")
    _check_signature(ref, fn)
    found: Any = fn
    return found


def _check_signature(ref: str, fn: Callable[..., object]) -> None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # builtins and some C callables have no signature to check
    kinds = {p.kind for p in sig.parameters.values()}
    takes_any = inspect.Parameter.VAR_KEYWORD in kinds
    missing = [k for k in TRAINER_KEYWORDS if k not in sig.parameters and not takes_any]
    try:
        sig.bind_partial(None, 0)
    except TypeError:
        missing.insert(0, "two positional arguments (config, seed)")
    if missing:
        raise UserError(f"--trainer {ref!r}: {fn.__name__}{sig} does not take "
                        f"{', '.join(missing)}; a trainer is called as "
                        "f(config, seed, data_dir=..., on_epoch=..., checkpoint=...)")
