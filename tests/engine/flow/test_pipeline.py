"""One trial pipeline where no study comes out silently wrong: the study's own metric is what
Optuna sees per epoch and what tables compare, a knob a model ignores cannot be varied, the seed
is no hyperparameter, and any trainer with fit's signature plugs in."""

from __future__ import annotations

import csv
import io
import textwrap
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from ablation.analysis.records import decode_metrics
from ablation.cli import main
from ablation.engine.options import RunOptions
from ablation.engine.trials.worker import run_study
from ablation.errors import UserError
from ablation.spec.study import parse_study
from tests.fakes import FakeFit, make_spec


def _options(url: str, tmp_path: Path) -> RunOptions:
    return RunOptions(url, tmp_path / "artifacts", tmp_path / "data")


def test_a_val_loss_study_reports_val_loss_per_epoch_and_minimises(storage_url, tmp_path):
    doc = {"study": {"name": "vl", "seeds": 1, "metric": "val_loss", "pruner": "median"},
           "baseline": {"epochs": 3}, "axes": {"optimizer": {"choices": ["sgd", "adam"]}}}
    spec = parse_study(doc, "t")
    assert spec.direction == "minimize"
    run_study(spec, _options(storage_url, tmp_path), FakeFit())
    study = optuna.load_study(study_name="vl", storage=storage_url)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    for t in study.trials:  # FakeFit's validation loss is 1/epoch, its accuracy a fixed score
        assert t.intermediate_values == {1: 1.0, 2: 0.5, 3: pytest.approx(1 / 3)}
        assert t.value == t.user_attrs["val_loss"]


def test_a_direction_that_contradicts_the_metric_is_refused():
    doc = {"study": {"name": "x", "metric": "val_loss", "direction": "maximize"},
           "axes": {"optimizer": {"choices": ["sgd"]}}}
    with pytest.raises(UserError, match="contradicts study.metric 'val_loss'"):
        parse_study(doc, "t")


def test_a_pruner_needs_a_metric_measured_every_epoch():
    doc = {"study": {"name": "x", "metric": "artifact_bytes", "pruner": "median"},
           "baseline": {"artifact": True}, "axes": {"prune": {"choices": [0.5]}}}
    with pytest.raises(UserError, match="measured once per trial"):
        parse_study(doc, "t")


def test_optuna_params_hold_no_seed_and_metric_names_are_set(storage_url, tmp_path):
    run_study(make_spec(seeds=2), _options(storage_url, tmp_path), FakeFit())
    study = optuna.load_study(study_name="opt", storage=storage_url)
    assert study.metric_names == ["val_accuracy"]
    assert all(set(t.params) == {"optimizer"} for t in study.trials)
    assert sorted(t.user_attrs["seed"] for t in study.trials) == [0, 0, 0, 1, 1, 1]


def test_the_decoder_reads_registered_metrics_only():
    attrs = {"test_accuracy": 0.9, "retry_of": 3, "seed": 2, "is_baseline": True,
             "artifact_bytes": 1234, "label": "sgd"}
    assert decode_metrics(attrs) == {"test_accuracy": 0.9, "artifact_bytes": 1234.0}


@pytest.mark.parametrize("axis, model", [("blocks", "cnn"), ("width", "lenet5"),
                                         ("dropout", "resnet50")])
def test_varying_a_knob_the_model_does_not_read_exits_2(tmp_path, axis, model):
    values = {"blocks": [1, 2], "width": [8, 16], "dropout": [0.0, 0.2]}[axis]
    path = tmp_path / "s.toml"
    path.write_text(f'[study]\nname = "k"\n[baseline]\nmodel = "{model}"\n'
                    f"[axes.{axis}]\nchoices = {values}\n")
    res = CliRunner().invoke(main, ["validate", str(path)])
    assert res.exit_code == 2
    assert f"model '{model}' does not read {axis}" in res.output
    assert res.output.count("\n") == 1


def test_a_baseline_knob_the_model_ignores_and_an_override_that_makes_one_exit_2(tmp_path):
    res = CliRunner().invoke(main, ["validate", str(_write(tmp_path, "width = 32"))])
    assert res.exit_code == 2 and "baseline.width = 32" in res.output
    res = CliRunner().invoke(main, ["run", "blocks", "--model", "cnn", "--dry-run"])
    assert res.exit_code == 2 and "model 'cnn' does not read blocks" in res.output


def _write(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "k.toml"
    path.write_text(f'[study]\nname = "k"\n[baseline]\nmodel = "lenet5"\n{line}\n'
                    '[axes.optimizer]\nchoices = ["sgd"]\n')
    return path


def test_models_and_datasets_are_listed_with_their_knobs_and_sizes():
    models = CliRunner().invoke(main, ["models"]).output
    assert "resnet-lite  reads: activation, width, blocks, dropout" in models
    assert "lenet5       reads: activation " in models
    datasets = CliRunner().invoke(main, ["datasets"]).output
    assert "mnist            60,000 train / 10,000 test, 10 classes, 1x28x28" in datasets


COMPRESSION = """
[study]
name = "cmp"
metric = "artifact_test_accuracy"
seeds = 2
[baseline]
dataset = "digits"
model = "tiny-cnn"
width = 4
epochs = 1
batch_size = 64
train_limit = 300
artifact = true
[axes.prune]
choices = [0.9]
"""


def test_a_compression_study_table_compares_its_own_metric_and_shows_bytes(tmp_path):
    study = tmp_path / "cmp.toml"
    study.write_text(COMPRESSION)
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert CliRunner().invoke(main, ["run", str(study), "--storage", url]).exit_code == 0
    res = CliRunner().invoke(main, ["export", "cmp", "--csv", "-", "--storage", url])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert {r["compared_metric"] for r in rows} == {"artifact_test_accuracy"}
    assert all(float(r["artifact_bytes_mean"]) > 0 for r in rows)
    assert not any("e" in r["artifact_bytes_mean"] for r in rows)  # never 1.7658e+06
    pruned = next(r for r in rows if r["value"] == "0.9")
    # 90% of the weights removed after training: the artifact's accuracy, not the unpruned
    # model's test accuracy, is what the table compares.
    diff = float(pruned["artifact_test_accuracy_pct_mean"]) - float(
        next(r for r in rows if r["baseline"] == "True")["artifact_test_accuracy_pct_mean"])
    assert float(pruned["diff_artifact_test_accuracy_pct"]) == pytest.approx(diff, abs=1e-4)
    shown = CliRunner().invoke(main, ["show", "cmp", "--storage", url]).output
    assert "artifact size" in shown and "artifact test" in shown  # headers may wrap


TRAINER = '''
from tests.fakes import FakeFit

CALLS = []


def fit(config, seed, *, data_dir, on_epoch=None, checkpoint=None):
    CALLS.append(seed)
    return FakeFit()(config, seed, data_dir=data_dir, on_epoch=on_epoch)


def wrong(config):
    return None
'''


def test_a_user_trainer_plugs_in_and_a_bad_one_exits_2(tmp_path, monkeypatch):
    (tmp_path / "mytrain.py").write_text(textwrap.dedent(TRAINER))
    monkeypatch.syspath_prepend(str(tmp_path))
    url = f"sqlite:///{tmp_path / 'a.db'}"
    spec = tmp_path / "s.toml"
    spec.write_text('[study]\nname = "p"\nseeds = 2\n[axes.optimizer]\nchoices = ["sgd"]\n')
    res = CliRunner().invoke(main, ["run", str(spec), "--storage", url,
                                    "--trainer", "mytrain:fit"])
    assert res.exit_code == 0, res.output
    import mytrain  # type: ignore[import-not-found]

    assert sorted(mytrain.CALLS) == [0, 0, 1, 1]
    for ref, says in (("mytrain:wrong", "does not take"), ("mytrain:nope", "no function"),
                      ("nosuchmodule:fit", "cannot import"), ("mytrain", "module:function")):
        res = CliRunner().invoke(main, ["run", str(spec), "--storage", url, "--trainer", ref])
        assert res.exit_code == 2 and says in res.output and res.output.count("\n") == 1
