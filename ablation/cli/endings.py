"""What ``run`` and ``worker`` do around the engine: SIGTERM like Ctrl-C, warnings about
oversubscribed cores, ``--retry-failed``, and a non-zero exit for points that failed for good."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any


def sigterm_like_ctrl_c(command: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command callback with SIGTERM (and a first SIGINT) interrupting it once."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ablation.engine.runners.signals import stop_on_sigterm

        with stop_on_sigterm():
            return command(*args, **kwargs)

    return wrapper


def before_running(store: Any, spec: Any, workers: int, threads: int, retry: bool) -> None:
    """Warn when workers x threads exceeds the cores; with ``retry``, give failed points new
    attempts (both stages of a refined study)."""
    from ablation.engine.runners.local import threads_per_worker
    from ablation.engine.trials.failures import retry_failed
    from ablation.engine.trials.preflight import warn_oversubscribed

    if threads or workers > 1:
        warn_oversubscribed(workers, threads_per_worker(workers, threads))
    if retry:
        from ablation.spec.study import FINE_SUFFIX

        names = [spec.storage_name, spec.storage_name + FINE_SUFFIX]
        again = retry_failed(store.engine, names)
        if again:
            import click

            click.echo(f"retrying {again} failed point(s)", err=True)


def after_running(store: Any, names: Sequence[str]) -> None:
    """Raise TrialsFailed (exit 1) when points of ``names`` failed for good."""
    from ablation.engine.trials.failures import TrialsFailed, failed_for_good, failures_text

    for name in names:
        failed = failed_for_good(store.optuna, store.engine, name)
        if failed:
            raise TrialsFailed(failures_text(name, failed))


def note_failures(store: Any, name: str) -> None:
    """``show``: a line naming the trials that failed for good and why (nothing if none)."""
    import click

    from ablation.engine.trials.failures import failed_for_good, failures_text

    failed = failed_for_good(store.optuna, store.engine, name)
    if failed:
        click.echo(f"failed: {failures_text(name, failed)}")
