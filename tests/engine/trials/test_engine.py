"""Engine on real temporary SQLite files, driven by a fake fit."""

import datetime
from pathlib import Path

import optuna
import pytest

from ablation.engine.storage import db
from ablation.engine.storage.store import open_store
from ablation.engine.trials.worker import RunOptions, run_study
from ablation.errors import UserError
from ablation.spec.space import grid_points
from ablation.spec.study import parse_study
from tests.fakes import FakeFit, make_spec


def options(url: str, tmp_path: Path, **kw) -> RunOptions:
    return RunOptions(url, tmp_path / "artifacts", tmp_path / "data", **kw)


def test_grid_is_covered_exactly_once(storage_url, tmp_path):
    spec = make_spec()
    fit = FakeFit()
    summary = run_study(spec, options(storage_url, tmp_path), fit)
    assert summary.ran == 6 and summary.remaining == 0
    ran = sorted((c.optimizer, s) for c, s in fit.calls)
    assert ran == sorted((o, s) for o in ("sgd", "adam", "nadam") for s in (0, 1))
    study = optuna.load_study(study_name="opt", storage=storage_url)
    trials = study.get_trials()
    assert len(trials) == 6 and all(t.state.name == "COMPLETE" for t in trials)
    assert {t.params["optimizer"] for t in trials} == {"sgd", "adam", "nadam"}
    assert all(t.user_attrs["test_accuracy"] == t.value for t in trials)


def test_rerun_adds_nothing(storage_url, tmp_path):
    spec = make_spec()
    run_study(spec, options(storage_url, tmp_path), FakeFit())
    again = FakeFit()
    summary = run_study(spec, options(storage_url, tmp_path), again)
    assert again.calls == [] and summary.ran == 0 and summary.already_done == 6
    assert len(optuna.load_study(study_name="opt", storage=storage_url).get_trials()) == 6


def test_interrupted_run_resumes_with_only_what_is_missing(storage_url, tmp_path):
    spec = make_spec()
    first = FakeFit()
    run_study(spec, options(storage_url, tmp_path, max_trials=4), first)
    second = FakeFit()
    summary = run_study(spec, options(storage_url, tmp_path), second)
    assert len(first.calls) == 4 and len(second.calls) == 2 and summary.remaining == 0
    assert set(first.calls).isdisjoint(second.calls)


def test_ctrl_c_marks_the_trial_failed_and_the_point_is_rerun(storage_url, tmp_path):
    spec = make_spec(seeds=1)
    with pytest.raises(KeyboardInterrupt):
        run_study(spec, options(storage_url, tmp_path), FakeFit(2, KeyboardInterrupt))
    study = optuna.load_study(study_name="opt", storage=storage_url)
    states = [t.state.name for t in study.get_trials()]
    assert states == ["COMPLETE", "FAIL"]
    assert study.get_trials()[1].user_attrs["failure"] == "interrupted"
    resumed = FakeFit()
    run_study(spec, options(storage_url, tmp_path), resumed)
    assert len(resumed.calls) == 2  # the interrupted point and the one never started
    points = db.list_points(open_store(storage_url).engine, "opt")
    assert [p.state for p in points] == ["done"] * 3


def test_a_failure_after_training_fails_the_trial_at_once(storage_url, tmp_path, monkeypatch):
    import ablation.compression.evaluate as runner

    def broken(*args, **kwargs):
        raise RuntimeError("compression broke")

    monkeypatch.setattr(runner, "compress_and_evaluate", broken)
    spec = make_spec(seeds=1, artifact=True)
    # A configuration failure: recorded, not retried, and the other points still run.
    summary = run_study(spec, options(storage_url, tmp_path), FakeFit())
    assert summary.ran == 3 and summary.remaining == 3
    trial = optuna.load_study(study_name="opt", storage=storage_url).get_trials()[0]
    assert trial.state.name == "FAIL"  # not left RUNNING for stale detection to find
    assert trial.user_attrs["failure"] == "RuntimeError: compression broke"
    assert trial.user_attrs["failure_kind"] == "configuration"
    points = db.list_points(open_store(storage_url).engine, "opt")
    assert [(p.state, p.attempts) for p in points] == [("failed", 3)] * 3
    again = FakeFit()
    assert run_study(spec, options(storage_url, tmp_path), again).ran == 0 and not again.calls


def test_one_at_a_time_varies_each_axis_alone():
    doc = {"study": {"name": "x", "seeds": 1},
           "baseline": {"optimizer": "nadam", "activation": "relu"},
           "axes": {"optimizer": {"choices": ["sgd", "nadam"]},
                    "activation": {"choices": ["relu", "gelu", "tanh"]}}}
    points = grid_points(parse_study(doc, "t"))
    pairs = [(p.config.optimizer, p.config.activation) for p in points]
    assert pairs == [("nadam", "relu"), ("sgd", "relu"), ("nadam", "gelu"), ("nadam", "tanh")]
    assert [p.is_baseline for p in points] == [True, False, False, False]


def test_factorial_is_the_full_product():
    doc = {"study": {"name": "x", "seeds": 2, "mode": "factorial"},
           "axes": {"optimizer": {"choices": ["sgd", "nadam"]},
                    "activation": {"choices": ["relu", "gelu", "tanh"]}}}
    points = grid_points(parse_study(doc, "t"))
    assert len(points) == 12 and len({p.key for p in points}) == 12


def test_same_spec_gives_same_points():
    assert [p.key for p in grid_points(make_spec())] == [p.key for p in grid_points(make_spec())]


def test_metrics_curves_run_records_and_artifacts_are_stored(storage_url, tmp_path):
    run_study(make_spec(seeds=1), options(storage_url, tmp_path), FakeFit())
    store = open_store(storage_url)
    assert len(db.epochs(store.engine, "opt")) == 3 * 2  # 3 trials x 2 epochs
    records = db.runs(store.engine, "opt")
    assert len(records) == 3 and all(r["finished"] is not None for r in records)
    assert '"torch"' in records[0]["environment"]
    trial = optuna.load_study(study_name="opt", storage=storage_url).get_trials()[0]
    assert trial.user_attrs["confusion"] == [[1, 0], [0, 1]]
    assert trial.intermediate_values == {1: trial.value, 2: trial.value}
    art = tmp_path / "artifacts" / trial.user_attrs["weights_artifact"]
    assert art.is_file() and art.stat().st_size > 0


def test_changed_baseline_under_the_same_name_is_refused(storage_url, tmp_path):
    run_study(make_spec(seeds=1), options(storage_url, tmp_path), FakeFit())
    with pytest.raises(UserError, match="different baseline or axes"):
        run_study(make_spec(seeds=1, lr=0.1), options(storage_url, tmp_path), FakeFit())


def test_more_seeds_later_extend_the_same_study(storage_url, tmp_path):
    run_study(make_spec(seeds=1), options(storage_url, tmp_path), FakeFit())
    more = FakeFit()
    run_study(make_spec(seeds=3), options(storage_url, tmp_path), more)
    assert sorted({s for _, s in more.calls}) == [1, 2] and len(more.calls) == 6


def test_concurrent_claims_never_hand_out_a_point_twice(storage_url, tmp_path):
    spec = make_spec(seeds=3)
    run_study(spec, options(storage_url, tmp_path, max_trials=1), FakeFit())
    engine = open_store(storage_url).engine
    claimed = []
    long_ago = db.now() - datetime.timedelta(hours=1)  # no running point counts as dead
    while (row := db.claim_point(engine, "opt", "w", long_ago)) is not None:
        claimed.append(row.key)
    assert len(claimed) == len(set(claimed)) == 8
