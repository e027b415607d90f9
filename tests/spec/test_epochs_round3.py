"""Built-in studies shortened with --epochs adapt what may not exceed the epochs, and validate
takes run's overrides (issue #21: `ablate run compression --dataset digits --epochs 2` was
refused because its swa_epochs axis is 3, and even `run compression --dry-run` was)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ablation.cli import main
from ablation.errors import UserError
from ablation.spec.epochs import adapted_note
from ablation.spec.files import builtin_studies, load_study
from ablation.spec.recipe_checks import min_epochs
from ablation.spec.study import parse_study, with_overrides


def test_compression_shortened_to_2_epochs_lowers_its_swa_axis_and_says_so():
    spec = with_overrides(load_study("compression"), dataset="digits", epochs=2)
    (swa,) = [a for a in spec.axes if a.name == "swa_epochs"]
    assert swa.choices == (2,) and spec.baseline.epochs == 2
    assert adapted_note(spec) == ("--epochs 2: lowered what may not exceed the epochs: "
                                  "axes.swa_epochs [3] -> [2]")
    assert adapted_note(with_overrides(load_study("compression"), epochs=20)) is None


@pytest.mark.parametrize("name", builtin_studies())
def test_every_builtin_study_runs_with_one_epoch(name):
    study = load_study(name)
    if study.recipe is not None and "swa" in {c.name for c in study.recipe.components}:
        # SWA averages the last epochs: one epoch cannot hold it, and the message says what to
        # give instead of silently dropping a recipe component.
        with pytest.raises(UserError, match="give --epochs 2 or more"):
            with_overrides(study, dataset="digits", epochs=1)
        return
    spec = with_overrides(study, dataset="digits", epochs=1)
    assert spec.baseline.epochs == 1  # nothing refused: what depends on epochs was adapted


def test_a_baseline_swa_above_the_new_epochs_is_lowered():
    doc = {"study": {"name": "s", "seeds": 1},
           "baseline": {"epochs": 10, "swa_epochs": 4},
           "axes": {"optimizer": {"choices": ["sgd", "adam"]}}}
    spec = with_overrides(parse_study(doc, "t"), epochs=3)
    assert spec.baseline.swa_epochs == 3 and spec.adapted == ("baseline.swa_epochs 4 -> 3",)


def test_validate_takes_runs_overrides():
    res = CliRunner().invoke(main, ["validate", "compression", "--dataset", "digits",
                                    "--epochs", "2", "--seeds", "2"])
    assert res.exit_code == 0, res.output
    assert "axes.swa_epochs [3] -> [2]" in res.output and "x 2 seeds" in res.output
    res = CliRunner().invoke(main, ["validate", "optimizers", "--model", "vgg"])
    assert res.exit_code == 2 and "unknown model 'vgg'" in res.output


def test_a_factorial_pairing_of_epochs_and_swa_is_refused():
    doc = {"study": {"name": "s", "seeds": 1, "mode": "factorial"},
           "baseline": {"epochs": 2},
           "axes": {"epochs": {"choices": [1, 2]}, "swa_epochs": {"choices": [0, 2]}}}
    with pytest.raises(UserError, match="combine epochs = 1 with swa_epochs = 2"):
        parse_study(doc, "t")


@pytest.mark.parametrize("name", builtin_studies())
def test_every_builtin_study_takes_the_dry_runs_settings(name, tmp_path):
    """`ablate run NAME --dry-run` trains the fewest epochs the study accepts: 1, or 2 for a
    recipe with SWA (lightweight-mnist's dry run was refused with --epochs 1)."""
    from ablation.cli.running import prepare_args

    spec, _ = prepare_args(name, None, None, None, None, f"sqlite:///{tmp_path}/d.db",
                           tmp_path, None, None, 60, 0, dry_run=True)
    assert spec.baseline.epochs == min_epochs(spec.recipe) <= 2
    assert spec.baseline.dataset == "digits" and spec.baseline.train_limit == 256
