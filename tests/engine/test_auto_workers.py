"""engine/auto_workers.py: what ``--workers auto`` chooses, and the line that says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ablation.cli import main
from ablation.engine.runners.auto_workers import (
    BIG_MODEL_PARAMS,
    MIN_IMAGE_EPOCHS,
    WORKER_BYTES,
    choose,
    free_memory,
    plan_workers,
)
from ablation.engine.trials.preflight import cores
from ablation.spec.files import load_study
from ablation.spec.study import with_overrides

BIG_STUDY = 10 * MIN_IMAGE_EPOCHS


def test_small_cpu_trials_get_one_single_threaded_worker_per_core() -> None:
    plan = choose(24, BIG_STUDY, 100_000, False, 2, 8 * 2**30)
    assert (plan.workers, plan.threads) == (2, 1)
    assert plan.line() == ("--workers auto: 2 worker processes x 1 thread "
                           "(2 cores, 24 trials to run)")


def test_no_more_workers_than_trials_left_and_spare_cores_become_threads() -> None:
    plan = choose(3, BIG_STUDY, 100_000, False, 16, 64 * 2**30)
    assert (plan.workers, plan.threads) == (3, 5)


def test_memory_bounds_the_workers() -> None:
    plan = choose(100, BIG_STUDY, 100_000, False, 16, 4 * WORKER_BYTES + 1)
    assert plan.workers == 4 and "GiB free memory" in plan.why


def test_16_workers_fit_in_8_gb() -> None:
    assert choose(100, BIG_STUDY, 100_000, False, 16, 8 * 10**9).workers == 16


@pytest.mark.parametrize(("kwargs", "why"), [
    ({"on_gpu": True}, "GPU"),
    ({"params": BIG_MODEL_PARAMS}, "big steps"),
    ({"image_epochs": MIN_IMAGE_EPOCHS - 1}, "too small a study"),
])
def test_one_worker_with_every_thread(kwargs: dict, why: str) -> None:
    args = {"trials": 24, "image_epochs": BIG_STUDY, "params": 100_000, "on_gpu": False,
            "have_cores": 8, "free_bytes": None, **kwargs}
    plan = choose(**args)
    assert (plan.workers, plan.threads) == (1, 0) and why in plan.why
    assert "all threads" in plan.line()


def test_the_quick_start_is_big_enough_for_workers_and_a_dry_run_is_not() -> None:
    spec = with_overrides(load_study("optimizers"), dataset="digits")
    plan = plan_workers(spec, Path("storage/datasets"), 24)
    # 24 trials x 10 epochs x 1,294 training images of digits: one worker per core
    memory = free_memory()
    fits = 24 if memory is None else max(1, memory // WORKER_BYTES)
    assert plan.workers == min(24, cores(), fits) and "image-epochs" not in plan.why
    tiny = with_overrides(spec, epochs=1, train_limit=256)
    assert "too small a study" in plan_workers(tiny, Path("storage/datasets"), 8).why


def test_the_option_takes_auto_or_a_count() -> None:
    bad = CliRunner().invoke(main, ["run", "optimizers", "--workers", "many"])
    assert bad.exit_code == 2 and "'many' is not a valid integer" in bad.output
    zero = CliRunner().invoke(main, ["run", "optimizers", "--workers", "0"])
    assert zero.exit_code == 2 and "0" in zero.output
    shown = " ".join(CliRunner().invoke(main, ["run", "--help"]).output.split())
    assert "default: auto" in shown
