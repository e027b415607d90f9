"""The device options of the commands that train or predict (docs/devices.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ablation.config.devices import DEVICES, auto_rule, spellings
from ablation.config.limits import MAX_WORKERS

_NAMED = spellings()  # auto, cpu, cuda, cuda:N, mps
DEVICE_HELP = f"Where to train: auto ({auto_rule()}), {', '.join(_NAMED[1:-1])} or {_NAMED[-1]}."
_GPUS = ",".join(f"{n}:{i}" for n in DEVICES if DEVICES.get(n).numbered for i in (0, 1))


def device_options(default: str | None = None,
                   help_text: str = DEVICE_HELP + " Default: the study's device (auto)"
                   ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--device``, shared by run, worker, cross-eval and predict (checked by the command)."""
    return click.option("--device", default=default, metavar="|".join(_NAMED),
                        show_default=default is not None, help=help_text)


def devices_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--devices`` and ``--per-device`` of ``run``: local workers spread over GPUs."""
    for option in reversed([
        click.option("--devices", default=None, metavar=f"auto|{_GPUS},...",
                     help="One local worker per listed GPU (auto: every visible GPU), each "
                     "seeing only its own GPU; sets the number of --workers."),
        click.option("--per-device", type=click.IntRange(1, MAX_WORKERS), default=1,
                     show_default=True,
                     help="With --devices: workers (trials at a time) per GPU.")]):
        fn = option(fn)
    return fn


def plan_placements(device: str | None, devices: str | None, per_device: int, workers: int,
                    on_ray: bool) -> tuple[list[Any], int]:
    """(placements, workers) of ``run``: none and ``workers`` unless --devices is given."""
    from ablation.errors import UserError

    if devices is None:
        if per_device != 1:
            raise UserError("--per-device applies with --devices only")
        return [], workers
    if device is not None:
        raise UserError("give either --device (every worker on it) or --devices (one worker "
                        "per GPU), not both")
    if on_ray:
        raise UserError("--devices places local workers; with --ray, Ray places them (its "
                        "num_gpus), so leave --devices out")
    import os

    from ablation.engine.runners.device_plan import plan_devices, worker_count
    from ablation.training.device import machine

    placements = plan_devices(devices, per_device, machine(),
                              os.environ.get("CUDA_VISIBLE_DEVICES"))
    given = click.get_current_context().get_parameter_source("workers")
    return placements, worker_count(
        placements, None if given == click.core.ParameterSource.DEFAULT else workers)
