"""A sampled search on SQLite with a fake trainer: every sampler stays in bounds, the budget holds
across runs and dead workers, the confirm stage re-runs the winners over seeds, notes are written.
"""

import math
import time
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from ablation.engine.flow.confirm import (
    distinct_configurations,
    rounded,
    run_search_stages,
    spread,
)
from ablation.engine.storage.store import open_store
from ablation.engine.trials.failures import TrialsFailed
from ablation.engine.trials.register import open_study
from ablation.engine.trials.search import run_search
from ablation.engine.trials.worker import run_study
from ablation.errors import UserError
from ablation.sampling.pruners import PRUNERS
from ablation.sampling.samplers import SAMPLERS
from ablation.spec.study import Axis
from tests.fakes import SEARCHING, FakeFit, options, search_spec


def stored(tmp_path: Path, name: str = "s") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'a.db'}")


@pytest.mark.parametrize("sampler", SEARCHING)
def test_every_searching_sampler_runs_a_small_range_study_in_bounds(tmp_path, sampler):
    fit = FakeFit()
    summary = run_search(search_spec(sampler, n_trials=5), options(tmp_path), fit)
    assert summary.ran == 5 and summary.remaining == 0
    trials = stored(tmp_path).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 5
    for t in trials:
        assert 1e-5 <= t.params["lr"] <= 1e-1
        assert t.params["batch_size"] in (32, 64, 96, 128)
        assert t.params["optimizer"] in ("sgd", "adam", "nadam")
        assert t.user_attrs["seed"] == 0 and t.user_attrs["axis"] == "search"
    # The trainer got exactly what Optuna stored, on the search seed.
    assert [(c.lr, c.batch_size, c.optimizer, seed) for c, seed in fit.calls] == [
        (t.params["lr"], t.params["batch_size"], t.params["optimizer"], 0) for t in trials]


def test_the_registry_holds_optunas_samplers_and_hyperband():
    assert set(SEARCHING) == {"tpe", "random", "cmaes", "gp", "qmc", "nsga2"}
    assert not SAMPLERS.get("grid").searches_ranges
    assert not SAMPLERS.get("cmaes").multi_objective and SAMPLERS.get("nsga2").multi_objective
    assert isinstance(PRUNERS.get("hyperband").build(), optuna.pruners.HyperbandPruner)


def test_a_log_axis_is_sampled_in_log_space(tmp_path):
    spec = search_spec("random", n_trials=40, axes={"lr": {"low": 1e-5, "high": 1e-1,
                                                           "log": True}})
    run_search(spec, options(tmp_path), FakeFit())
    trials = stored(tmp_path).get_trials()
    dist = trials[0].distributions["lr"]
    assert isinstance(dist, optuna.distributions.FloatDistribution)
    assert (dist.low, dist.high, dist.log) == (1e-5, 1e-1, True)
    # Log-uniform over four decades puts half the draws below 1e-3; uniform would put 1%.
    below = sum(t.params["lr"] < 1e-3 for t in trials)
    assert 10 <= below <= 30
    logs = [math.log10(t.params["lr"]) for t in trials]
    assert min(logs) < -4 and max(logs) > -2


def test_the_same_seed_draws_the_same_trials_and_a_resumed_search_draws_new_ones(tmp_path):
    spec = search_spec("random", n_trials=4)
    run_search(spec, options(tmp_path / "a"), FakeFit())
    run_search(spec, options(tmp_path / "b", max_trials=2), FakeFit())
    run_search(spec, options(tmp_path / "b"), FakeFit())
    a = [t.params for t in stored(tmp_path / "a").get_trials()]
    b = [t.params for t in stored(tmp_path / "b").get_trials()]
    assert a == b  # trial n's draw depends on the seed and n only
    assert len({p["lr"] for p in a}) == 4  # resuming did not redraw the first trials


def test_the_budget_holds_across_runs(tmp_path):
    spec, fit = search_spec(n_trials=5), FakeFit()
    first = run_search(spec, options(tmp_path, max_trials=2), fit)
    assert (first.ran, first.remaining) == (2, 3)
    second = run_search(spec, options(tmp_path), fit)
    assert (second.ran, second.already_done, second.remaining) == (3, 2, 0)
    third = run_search(spec, options(tmp_path), fit)
    assert third.ran == 0 and len(fit.calls) == 5
    assert len(stored(tmp_path).get_trials()) == 5


def test_a_dead_workers_trial_is_failed_and_its_budget_run_again(tmp_path):
    spec = search_spec(n_trials=3)
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}", grace_seconds=2)
    study = open_study(spec, store)
    dead = study.ask()  # a worker that asked, beat once and died
    store.optuna.record_heartbeat(dead._trial_id)
    time.sleep(2.5)
    fit = FakeFit()
    summary = run_search(spec, options(tmp_path, grace_seconds=2), fit, store=store)
    assert summary.ran == 3 and len(fit.calls) == 3
    states = [t.state for t in stored(tmp_path).get_trials()]
    assert states == [TrialState.FAIL] + [TrialState.COMPLETE] * 3


def test_a_failed_trial_does_not_count_and_its_budget_is_sampled_again(tmp_path):
    spec = search_spec(n_trials=3)
    assert run_search(spec, options(tmp_path), FakeFit(fail_on_call=2)).ran == 4
    trials = stored(tmp_path).get_trials()
    states = [t.state for t in trials]
    assert states.count(TrialState.COMPLETE) == 3 and states.count(TrialState.FAIL) == 1
    failed = next(t for t in trials if t.state == TrialState.FAIL)
    assert failed.user_attrs["failure"] == "RuntimeError: stopped on purpose"
    assert run_search(spec, options(tmp_path), FakeFit()).ran == 0  # the budget is used


class _AlwaysFails(FakeFit):
    def __call__(self, config, seed, **kw):
        self.fail_on_call = len(self.calls) + 1
        return super().__call__(config, seed, **kw)


def test_a_search_whose_every_trial_fails_stops_instead_of_sampling_for_ever(tmp_path):
    fit = _AlwaysFails()
    with pytest.raises(TrialsFailed, match="the last 3 sampled trials failed"):
        run_search(search_spec(n_trials=5), options(tmp_path), fit)
    assert len(fit.calls) == 3
    assert [t.state for t in stored(tmp_path).get_trials()] == [TrialState.FAIL] * 3


def test_a_search_with_a_pruner_reports_every_epoch(tmp_path):
    spec = search_spec(n_trials=4, pruner="hyperband")
    run_search(spec, options(tmp_path), FakeFit())
    trials = stored(tmp_path).get_trials()
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    assert all(set(t.intermediate_values) <= {1, 2} and t.intermediate_values for t in trials)


def test_run_study_dispatches_a_search(tmp_path):
    summary = run_study(search_spec(n_trials=2), options(tmp_path), FakeFit())
    assert (summary.total, summary.ran) == (2, 2)


def test_rounding_dedupes_keeps_ranges_and_drops_the_baseline():
    spec = search_spec(confirm={"top": 3, "digits": 2},
                       axes={"lr": {"low": 1e-4, "high": 0.0949, "log": True},
                             "optimizer": {"choices": ["sgd", "nadam"]}})
    assert rounded(spec, {"lr": 0.09488, "optimizer": "sgd"}, 2)["lr"] == 0.0949  # clamped
    ranked = [{"lr": 0.0012345, "optimizer": "sgd"}, {"lr": 0.0012399, "optimizer": "sgd"},
              {"lr": 0.0040001, "optimizer": "nadam"},  # the baseline (lr 4e-3, nadam)
              {"lr": 0.0012, "optimizer": "nadam"}, {"lr": 0.02, "optimizer": "sgd"}]
    assert distinct_configurations(spec, ranked) == [
        {"lr": 0.0012, "optimizer": "sgd"}, {"lr": 0.0012, "optimizer": "nadam"},
        {"lr": 0.02, "optimizer": "sgd"}]


def test_spread_keeps_both_ends_of_a_front():
    assert spread(list(range(10)), 4) == [0, 3, 6, 9]
    assert spread([1, 2], 4) == [1, 2] and spread([5, 6, 7], 1) == [5]


def test_search_then_confirm_runs_the_top_configurations_and_the_baseline_over_seeds(tmp_path):
    spec = search_spec(n_trials=6, confirm={"top": 2, "seeds": 3})
    fit = FakeFit()
    first, second = run_search_stages(spec, options(tmp_path), fit)
    assert (first.ran, second.ran, second.total) == (6, 9, 9)
    search = stored(tmp_path)
    best = sorted(search.get_trials(), key=lambda t: (-t.value, t.number))
    confirm = stored(tmp_path, "s/confirm")
    labels = confirm.user_attrs["derived_from"]["configurations"]
    lr = float(f"{best[0].params['lr']:.2g}")
    assert labels[0].startswith(f"lr={lr:g}, batch_size={best[0].params['batch_size']}")
    trials = confirm.get_trials()
    assert sorted({t.user_attrs["seed"] for t in trials}) == [0, 1, 2]
    assert sum(t.user_attrs["is_baseline"] for t in trials) == 3
    assert search.user_attrs["confirm_stage"] == "s/confirm"
    # A re-run derives the same stage from the stored search and runs nothing.
    again = run_search_stages(spec, options(tmp_path), fit)
    assert [s.ran for s in again] == [0, 0] and len(fit.calls) == 15


def test_the_dashboard_notes_carry_the_confirmed_table(tmp_path):
    from optuna_dashboard import get_note

    from ablation.engine.flow.run import run
    from ablation.engine.storage.store import open_store

    spec = search_spec(n_trials=3, confirm={"top": 1, "seeds": 2})
    opts = options(tmp_path)
    run(spec, opts, FakeFit(), open_store(opts.storage_url))
    note = get_note(stored(tmp_path))
    assert "3 of 3 trials sampled by `tpe`" in note and "Best single trial" in note
    assert "## Confirmed over seeds: `s/confirm`" in note and "| baseline | 2 |" in note
    assert "verdict" in get_note(stored(tmp_path, "s/confirm"))


def test_an_interrupted_search_waits_with_its_confirm_stage(tmp_path):
    spec = search_spec(n_trials=4, confirm={"top": 1, "seeds": 2})
    summaries = run_search_stages(spec, options(tmp_path, max_trials=3), FakeFit())
    assert len(summaries) == 1 and summaries[0].remaining == 1
    summaries = run_search_stages(spec, options(tmp_path, max_trials=3), FakeFit())
    assert [s.ran for s in summaries] == [1, 2]  # one budget: 1 search trial + 2 confirm


def test_a_sampled_configuration_that_is_invalid_fails_its_trial(tmp_path):
    # Parsing refuses such a range; a spec built by hand can still hold one. The trial must
    # not stay RUNNING: without a heartbeat, nothing would ever fail it and free its budget.
    spec = replace(search_spec(n_trials=2), axes=(Axis("swa_epochs", low=3, high=4),))
    with pytest.raises(UserError, match="swa_epochs"):
        run_search(spec, options(tmp_path), FakeFit())
    assert [t.state for t in stored(tmp_path).get_trials()] == [TrialState.FAIL]
