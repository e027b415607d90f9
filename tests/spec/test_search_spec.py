"""The keys of a sampled search (issue 14): range axes with step, objectives, confirm, budget."""

import pytest
from click.testing import CliRunner

from ablation.cli import main
from ablation.errors import UserError
from ablation.spec.study import confirm_stage, parse_study, with_overrides


def doc(study=None, axes=None, **baseline):
    return {"study": {"name": "s", "sampler": "tpe", "n_trials": 4, **(study or {})},
            "baseline": {"dataset": "digits", "epochs": 1, **baseline},
            "axes": axes or {"lr": {"low": 1e-4, "high": 1e-1, "log": True}}}


def test_range_axes_keep_int_and_float_keys_and_step():
    spec = parse_study(doc(axes={"lr": {"low": 1e-4, "high": 1e-1, "log": True},
                                 "batch_size": {"low": 32, "high": 128, "step": 32},
                                 "dropout": {"low": 0.0, "high": 0.5, "step": 0.1},
                                 "optimizer": {"choices": ["sgd", "adam"]}}), "t")
    lr, bs, drop, opt = spec.axes
    assert (lr.low, lr.high, lr.log, lr.step) == (1e-4, 1e-1, True, None)
    assert (bs.low, bs.high, bs.step) == (32, 128, 32) and isinstance(bs.low, int)
    assert drop.step == 0.1 and opt.choices == ("sgd", "adam")
    assert spec.is_search and spec.search_seed == 0 and spec.n_trials == 4


@pytest.mark.parametrize("study,axes,message", [
    ({}, {"lr": {"low": 1e-4, "high": 1e-1, "log": True, "step": 0.01}}, "not both"),
    ({}, {"batch_size": {"low": 32, "high": 128, "step": 0.5}}, "step must be one"),
    ({}, {"lr": {"low": 0.1, "high": 0.2, "step": 1.0}}, "wider than the range"),
    ({}, {"optimizer": {"low": 1, "high": 2}}, "number-valued key"),
    ({"n_trials": 0}, None, "trial budget > 0"),
    ({"metric": "test_accuracy"}, None, "must not be measured on the test split"),
    ({"objectives": ["val_accuracy"]}, None, "two or more"),
    ({"objectives": ["val_accuracy", "params"]}, None, "two or more"),
    ({"objectives": ["val_accuracy", "artifact_bytes"]}, None, "baseline.artifact = true"),
    ({"objectives": ["val_accuracy", "val_loss"], "sampler": "cmaes"}, None,
     "sampler for several objectives"),
    ({"objectives": ["val_accuracy", "val_loss"], "pruner": "median"}, None,
     "cannot be pruned"),
    ({"confirm": {"top": 0}}, None, "study.confirm.top"),
    ({"confirm": {"seeds": 1}}, None, "at least 2 seeds"),
    ({"confirm": {"best": 3}}, None, "unknown key 'best'"),
    ({"refine": {"axis": "lr"}}, None, "study.confirm instead"),
    ({"sampler": "grid", "confirm": {"top": 2}}, {"lr": {"choices": [0.1, 0.01]}},
     "belongs to a sampled search"),
])
def test_search_keys_refuse_what_cannot_run(study, axes, message):
    with pytest.raises(UserError, match=message):
        parse_study(doc(study, axes), "t")


def test_a_search_on_validation_data_needs_a_validation_split():
    with pytest.raises(UserError, match="val_fraction"):
        parse_study(doc(val_fraction=0.0), "t")


def test_objectives_set_the_metric_and_the_confirm_seeds():
    spec = parse_study(doc({"objectives": ["artifact_val_accuracy", "artifact_bytes"],
                            "confirm": {"top": 4, "seeds": 3, "digits": 3}},
                           {"prune": {"low": 0.0, "high": 0.95}}, artifact=True), "t")
    assert spec.metric == "artifact_val_accuracy" and spec.direction == "maximize"
    assert spec.confirm is not None and spec.confirm.seeds == (0, 1, 2)
    assert (spec.confirm.top, spec.confirm.digits) == (4, 3)


def test_overrides_set_the_budget_and_the_confirm_seeds_and_check_range_ends():
    spec = parse_study(doc({"confirm": {"top": 2}},
                           {"swa_epochs": {"low": 0, "high": 3}}, epochs=5), "t")
    out = with_overrides(spec, seeds=3, n_trials=9)
    assert out.n_trials == 9 and out.confirm is not None and out.confirm.seeds == (0, 1, 2)
    shorter = with_overrides(spec, epochs=2)  # the range's end 3 no longer fits 2 epochs:
    (swa,) = shorter.axes  # lowered to fit, and said (issue #21), not refused
    assert (swa.low, swa.high) == (0, 2) and shorter.adapted == ("axes.swa_epochs high 3 -> 2",)
    grid = parse_study({"study": {"name": "g"}, "axes": {"lr": {"choices": [0.1]}}}, "t")
    with pytest.raises(UserError, match="--n-trials"):
        with_overrides(grid, n_trials=3)


def test_confirm_stage_is_a_grid_of_the_chosen_configurations_and_the_baseline():
    spec = parse_study(doc({"confirm": {"top": 2, "seeds": 4}},
                           {"lr": {"low": 1e-4, "high": 1e-1, "log": True},
                            "optimizer": {"choices": ["sgd", "adam"]}}), "t")
    stage = confirm_stage(spec, [{"lr": 0.0021, "optimizer": "adam"},
                                 {"lr": 0.03, "optimizer": "sgd"}])
    assert stage.name == "s/confirm" and stage.sampler == "grid" and not stage.is_search
    assert stage.seeds == (0, 1, 2, 3) and stage.pruner == "none"
    assert [label for label, _ in stage.candidates] == ["lr=0.0021, optimizer=adam",
                                                        "lr=0.03, optimizer=sgd"]
    assert stage.axes[0].choices == (0.0021, 0.03)


def test_validate_describes_a_search(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[study]\nname = "s"\nsampler = "random"\nn_trials = 7\n'
                    'confirm = { top = 2, seeds = 3 }\n[axes.lr]\nlow = 1e-4\nhigh = 0.1\n'
                    'log = true\n')
    res = CliRunner().invoke(main, ["validate", str(path)])
    assert res.exit_code == 0, res.output
    assert "lr (log 0.0001..0.1)" in res.output and "7 trials sampled by random" in res.output
    assert "best 2 configurations and the baseline x 3 seeds = up to 9 trials" in res.output
