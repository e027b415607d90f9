"""``ablate run --ray``: the options that put a run's workers on a Ray cluster, and what
the driver prints at the end. Ray itself is imported only by engine/runners/ray_launcher.py, when
used."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import click

from ablation.errors import UserError


def ray_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--ray [ADDRESS], --cpus-per-worker, --gpus-per-worker."""
    for option in reversed([
        click.option("--ray", "ray_address", is_flag=False, flag_value="", default=None,
                     metavar="[ADDRESS]",
                     help="Run the workers as Ray tasks: on the cluster at ADDRESS (auto, "
                     "HOST:PORT, ray://HOST:10001), or on a new local Ray instance without one "
                     "(give ADDRESS as --ray=ADDRESS or after STUDY). --workers: how many "
                     "(default: as many as the cluster holds). Needs ablate[ray]; see "
                     "docs/clusters.md."),
        click.option("--cpus-per-worker", type=click.FloatRange(min=0), default=1.0,
                     show_default=True, help="With --ray: CPUs each worker asks Ray for."),
        click.option("--gpus-per-worker", type=click.FloatRange(min=0), default=0.0,
                     show_default=True, help="With --ray: GPUs each worker asks Ray for "
                     "(fractions share a GPU, e.g. 0.5).")]):
        fn = option(fn)
    return fn


def ray_plan(given: Mapping[str, Any], workers: int, max_trials: int | None,
             storage: str) -> Any:
    """The RayPlan of ``--ray`` (None without it), checked before anything is written.

    ``given``: the values of the options ray_options adds, by parameter name.
    """
    ray_address, cpus, gpus = (given["ray_address"], given["cpus_per_worker"],
                               given["gpus_per_worker"])
    if ray_address is None:
        if click.get_current_context().get_parameter_source("cpus_per_worker") != \
                click.core.ParameterSource.DEFAULT or gpus > 0:
            raise UserError("--cpus-per-worker/--gpus-per-worker go with --ray")
        return None
    from ablation.engine.runners.ray_launcher import RayPlan, check_plan

    if max_trials is not None:
        raise UserError("--max-trials counts the trials of one worker; use it without --ray")
    source = click.get_current_context().get_parameter_source("workers")
    plan = RayPlan(ray_address or None,
                   workers if source != click.core.ParameterSource.DEFAULT else None, cpus, gpus)
    check_plan(plan, storage)
    return plan
