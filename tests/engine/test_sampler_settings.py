"""Optuna 5 changed defaults under ablate (TPE multivariate + constant liar, PED-ANOVA importance):
every sampler gets every setting from ablate, the run record keeps them, the report's
importance evaluator is pinned (issue 21)."""

from __future__ import annotations

import inspect
import json
from dataclasses import replace

import optuna
import pytest

from ablation.engine.results import reader
from ablation.engine.storage import db
from ablation.engine.storage.store import open_store
from ablation.engine.trials.search import run_search
from ablation.sampling.samplers import SAMPLERS, PerTrialSeed, sampler_record
from tests.fakes import SEARCHING, FakeFit, options, search_spec


@pytest.mark.parametrize("name", SEARCHING)
def test_every_setting_is_a_real_argument_of_the_sampler_and_is_passed(name):
    spec = search_spec(name, n_trials=12)
    built = SAMPLERS.get(name).build(spec, 7)
    sampler = built._inner if isinstance(built, PerTrialSeed) else built
    record = sampler_record(spec)
    settings = {k: v for k, v in record.items() if k not in ("name", "seed")}
    accepted = set(inspect.signature(type(sampler).__init__).parameters)
    assert set(settings) <= accepted, set(settings) - accepted
    assert record["name"] == name and record["seed"] == spec.search_seed
    json.dumps(record)  # the run record stores it as JSON


def test_tpe_settings_do_not_depend_on_optunas_defaults():
    record = sampler_record(search_spec("tpe", n_trials=30))
    assert record["multivariate"] is True and record["constant_liar"] is True
    assert record["n_startup_trials"] == 10 and record["group"] is False
    inner = SAMPLERS.get("tpe").build(search_spec("tpe", n_trials=30), 0)._inner
    assert inner._multivariate is True and inner._constant_liar is True


def test_the_run_record_keeps_the_samplers_settings(tmp_path):
    spec = search_spec("tpe", n_trials=2)
    run_search(spec, options(tmp_path), FakeFit())
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}", must_exist=True)
    records = db.runs(store.engine, "s")
    assert len(records) == 2
    assert {json.dumps(json.loads(r["environment"])["sampler"], sort_keys=True)
            for r in records} == {json.dumps(sampler_record(spec), sort_keys=True)}


def test_a_grid_studys_run_record_names_its_sampler():
    spec = replace(search_spec("tpe"), sampler="grid")
    assert sampler_record(spec) == {"name": "grid", "seed": None}


def test_the_reports_importance_is_fanova_whatever_optunas_default(tmp_path, monkeypatch):
    run_search(search_spec("random", n_trials=6), options(tmp_path), FakeFit())
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}", must_exist=True)
    used = []
    real = optuna.importance.get_param_importances

    def spy(study, *, evaluator=None, **kw):
        used.append(evaluator)
        return real(study, evaluator=evaluator, **kw)

    monkeypatch.setattr(optuna.importance, "get_param_importances", spy)
    found = reader.param_importances(store, "s", ["lr", "batch_size"])
    assert [type(e).__name__ for e in used] == ["FanovaImportanceEvaluator"]
    assert set(found) == {"lr", "batch_size"} and abs(sum(found.values()) - 1) < 1e-9
