"""Two chained stages (study.refine): pure fine-grid construction, then the engine on SQLite."""

import itertools
import math
from dataclasses import replace
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from torch import nn

from ablation.analysis.records import EpochRecord, Metrics, TrialRecord
from ablation.cli import main
from ablation.engine.flow.stages import bracket, fine_grid, run_stages, second_stage, stage_means
from ablation.engine.trials.worker import RunOptions
from ablation.errors import UserError
from ablation.spec.study import parse_study
from ablation.training.fit import FitResult


def test_fine_grid_linear_is_study_002s_ten_values():
    grid = fine_grid(1e-3, 1e-4, 10)
    assert grid == (1e-4, 2e-4, 3e-4, 4e-4, 5e-4, 6e-4, 7e-4, 8e-4, 9e-4, 1e-3)
    assert fine_grid(1e-4, 1e-3, 10) == grid


def test_fine_grid_log_is_evenly_spaced_in_log():
    grid = fine_grid(1e-6, 1e-5, 5, "log")
    assert grid[0] == 1e-6 and grid[-1] == 1e-5 and len(grid) == 5
    steps = {round(math.log10(b) - math.log10(a), 6) for a, b in itertools.pairwise(grid)}
    assert steps == {0.25}


def test_fine_grid_refuses_degenerate_input():
    with pytest.raises(ValueError):
        fine_grid(1e-3, 1e-3, 10)
    with pytest.raises(ValueError):
        fine_grid(1e-4, 1e-3, 1)


@pytest.mark.parametrize("means,direction,expected", [
    ({1e-2: 88.02, 1e-3: 88.33, 1e-4: 88.32, 1e-5: 87.38, 1e-6: 84.48}, "maximize",
     (1e-3, 1e-4)),  # study 002's coarse stage
    ({1e-2: 0.9, 1e-3: 0.5, 1e-4: 0.1}, "maximize", (1e-2, 1e-3)),  # best at an end
    ({1e-2: 0.9, 1e-3: 0.5, 1e-4: 0.1}, "minimize", (1e-4, 1e-3)),
    ({1e-3: 0.5, 1e-2: 0.7, 1e-1: 0.5}, "maximize", (1e-2, 1e-3)),  # tie: the smaller value
])
def test_bracket_is_the_best_and_its_better_neighbour(means, direction, expected):
    assert bracket(means, direction) == expected


def _record(lr, seed, val, state="complete"):
    return TrialRecord(0, state, "lr", str(lr), seed, {"lr": lr, "seed": seed},
                       {"val_accuracy": val, "test_accuracy": 1 - val})


def test_stage_means_average_seeds_and_skip_failed_trials_and_other_seeds():
    trials = [_record(0.1, 0, 0.5), _record(0.1, 1, 0.7), _record(0.1, 2, 0.0, "fail"),
              _record(0.01, 0, 0.4), _record(0.01, 9, 0.0)]
    means = stage_means(trials, "lr", "val_accuracy", seeds=(0, 1, 2))
    assert means == pytest.approx({0.1: 0.6, 0.01: 0.4})


class PeakFit:
    """A fake fit whose validation accuracy peaks at lr = 10 ** peak (known best decade).

    ``peak`` may differ per seed ({seed: peak}). Test accuracy peaks elsewhere (at 1e-2), so a
    stage chosen on test metrics would differ.
    """

    def __init__(self, peak: float | dict[int, float]) -> None:
        self.peak = peak
        self.calls: list[tuple[float, int]] = []

    def __call__(self, config, seed, *, data_dir: Path, on_epoch=None,
                 checkpoint=None) -> FitResult:
        self.calls.append((config.lr, seed))
        peak = self.peak[seed] if isinstance(self.peak, dict) else self.peak
        val = 1 - (math.log10(config.lr) - peak) ** 2 / 100 + seed / 1000
        test = 1 - abs(math.log10(config.lr) + 2) / 10
        m = Metrics(test_loss=1 - test, test_accuracy=test, macro_f1=test, val_loss=1 - val,
                    val_accuracy=val, train_seconds=0.01, infer_seconds=0.001,
                    infer_ms_per_image=0.01, params=6, state_bytes=100,
                    epochs_run=config.epochs, confusion=((1, 0), (0, 1)))
        if on_epoch:
            on_epoch(EpochRecord(1, 1.0, val, 1.0, val, 0.1, 0.01))
        return FitResult(m, (), nn.Linear(2, 2))


def lr_spec(seeds=1, values=4):
    doc = {"study": {"name": "lr", "seeds": seeds, "refine": {"axis": "lr", "values": values}},
           "baseline": {"dataset": "digits", "lr": 1e-3, "epochs": 1},
           "axes": {"lr": {"choices": [1e-2, 1e-3, 1e-4, 1e-5, 1e-6]}}}
    return parse_study(doc, "test")


def _options(url: str, tmp_path: Path, **kw) -> RunOptions:
    return RunOptions(url, tmp_path / "artifacts", tmp_path / "data", **kw)


def _lrs(url: str, name: str) -> list[float]:
    return sorted({t.params["lr"] for t in optuna.load_study(study_name=name,
                                                             storage=url).get_trials()})


@pytest.mark.parametrize("peak,best,fine", [
    (-3.7, 1e-4, (1e-4, 4e-4, 7e-4, 1e-3)),  # like study 002: 1e-4 best, 1e-3 next
    (-5.4, 1e-5, (1e-6, 4e-6, 7e-6, 1e-5)),
])
def test_fine_stage_is_derived_from_coarse_results_and_rerun_adds_nothing(
        storage_url, tmp_path, peak, best, fine):
    fit = PeakFit(peak)
    summaries = run_stages(lr_spec(), _options(storage_url, tmp_path), fit)
    assert [(s.study_name, s.ran, s.remaining) for s in summaries] == [("lr", 5, 0),
                                                                        ("lr/fine", 4, 0)]
    assert _lrs(storage_url, "lr") == [1e-6, 1e-5, 1e-4, 1e-3, 1e-2]
    assert tuple(_lrs(storage_url, "lr/fine")) == fine
    fine_study = optuna.load_study(study_name="lr/fine", storage=storage_url)
    origin = fine_study.user_attrs["derived_from"]
    assert origin["study"] == "lr" and origin["metric"] == "val_accuracy"
    assert origin["best"] == best and tuple(origin["values"]) == fine
    again = PeakFit(peak)
    summaries = run_stages(lr_spec(), _options(storage_url, tmp_path), again)
    assert again.calls == [] and [s.already_done for s in summaries] == [5, 4]
    assert len(fine_study.get_trials()) == 4


def test_fine_stage_waits_until_the_coarse_stage_is_complete(storage_url, tmp_path):
    first = run_stages(lr_spec(), _options(storage_url, tmp_path, max_trials=3), PeakFit(-3.7))
    assert len(first) == 1 and first[0].remaining == 2
    names = {s.study_name for s in optuna.get_all_study_summaries(storage_url)}
    assert names == {"lr"}
    # one budget for both stages: 2 coarse trials left, then 1 of the fine stage
    second = run_stages(lr_spec(), _options(storage_url, tmp_path, max_trials=3), PeakFit(-3.7))
    assert [(s.ran, s.remaining) for s in second] == [(2, 0), (1, 3)]


def test_a_moved_best_value_is_refused_instead_of_mixing_two_fine_grids(storage_url, tmp_path):
    run_stages(lr_spec(seeds=1), _options(storage_url, tmp_path), PeakFit(-3.7))
    # seed 1 peaks near 1e-6: averaged over both seeds the best decade becomes 1e-5 (next 1e-4)
    fit = PeakFit({0: -3.7, 1: -5.9})
    moved = r"4 values over 0.0001..0.001.*4 values over 1e-05..0.0001"
    with pytest.raises(UserError, match=moved):
        run_stages(lr_spec(seeds=2), _options(storage_url, tmp_path), fit)
    assert {s for _, s in fit.calls} == {1} and len(fit.calls) == 5  # stage 1's new seed only
    assert len(optuna.load_study(study_name="lr/fine", storage=storage_url).get_trials()) == 4


def test_ablate_run_lr_says_when_stage_2_waits(tmp_path, storage_url, monkeypatch):
    monkeypatch.setattr("ablation.training.fit.fit", PeakFit(-3.7))
    res = CliRunner().invoke(main, ["run", "lr", "--dataset", "digits", "--seeds", "1",
                                    "--max-trials", "2", "--storage", storage_url,
                                    "--data-dir", str(tmp_path)])
    assert res.exit_code == 0 and "3 left of 5" in res.output
    assert "stage 2 (lr/fine) starts once every trial of stage 1 is done" in res.output


def test_ablate_run_lr_runs_both_stages(tmp_path, storage_url, monkeypatch):
    fit = PeakFit(-3.7)
    monkeypatch.setattr("ablation.training.fit.fit", fit)
    res = CliRunner().invoke(main, ["run", "lr", "--dataset", "digits", "--epochs", "1",
                                    "--seeds", "1", "--max-trials", "7", "--storage", storage_url,
                                    "--data-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "study lr[dataset=digits,epochs=1]: 5 trial(s) run now" in res.output
    assert "study lr/fine[dataset=digits,epochs=1]: 2 trial(s) run now" in res.output
    assert "8 left of 10" in res.output and len(fit.calls) == 7
    # lr.toml's stage 2: ten values from the best decade (1e-4) to its better neighbour (1e-3)
    fine = optuna.load_study(study_name="lr/fine[dataset=digits,epochs=1]", storage=storage_url)
    assert fine.user_attrs["derived_from"]["values"] == [
        1e-4, 2e-4, 3e-4, 4e-4, 5e-4, 6e-4, 7e-4, 8e-4, 9e-4, 1e-3]
    for stage, label in (("lr", "1e-05"), ("lr/fine", "0.0002")):  # both stages export
        out = CliRunner().invoke(main, ["export", stage, "--csv", "-", "--storage", storage_url])
        assert out.exit_code == 0 and label in out.output, out.output


def test_second_stage_minimises_val_loss_and_is_centred_on_the_best_value():
    doc = {"study": {"name": "wd", "seeds": 2, "metric": "val_loss", "direction": "minimize",
                     "refine": {"axis": "weight_decay", "values": 3, "spacing": "log"}},
           "axes": {"weight_decay": {"choices": [1e-2, 1e-3, 1e-4]}}}
    spec = parse_study(doc, "test")
    losses = {1e-2: 0.9, 1e-3: 0.2, 1e-4: 0.3}
    trials = [TrialRecord(0, "complete", "weight_decay", "", seed,
                          {"weight_decay": wd, "seed": seed},
                          {"val_loss": loss, "test_loss": 1 - loss})
              for wd, loss in losses.items() for seed in (0, 1)]
    fine = second_stage(spec, trials)
    assert fine.storage_name == "wd/fine" and fine.refine is None
    assert fine.baseline.weight_decay == 1e-3
    assert fine.axes[0].choices == (1e-4, 0.000316227766, 1e-3)  # 10 ** -3.5, 10 digits


def test_progress_shows_stage_names_with_overrides_verbatim():
    import io

    from rich.console import Console

    from ablation.reporting.console import RichProgress
    from ablation.spec.study import with_overrides

    out = io.StringIO()
    fine = replace(with_overrides(lr_spec(), dataset="mnist"), name="lr/fine")
    RichProgress(Console(file=out, width=200)).study_start(fine, 4, 4)
    assert out.getvalue().startswith("lr/fine[dataset=mnist]: 4 trials")
