"""Progress lines (issue #21): in a log a running trial writes a line every ~30 s or every epoch,
whichever is rarer; a compressed trial's line shows its artifact's figures, not the accuracy
before compression."""

from __future__ import annotations

import io
import re

import optuna
import pytest
from click.testing import CliRunner
from rich.console import Console

from ablation.analysis.records import EpochRecord
from ablation.cli import main
from ablation.config.trainconfig import TrainConfig
from ablation.engine.trials.worker import compressed_state
from ablation.reporting.console import RichProgress, WorkerProgress, trial_figures
from ablation.spec.space import Point
from tests.fakes import fake_metrics

POINT = Point("k", 0, "optimizer", "sgd", 0, {"optimizer": "sgd"}, TrainConfig())


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _epochs(progress, clock: Clock, times: list[float]) -> None:
    progress.trial_start(POINT, 4)
    for i, t in enumerate(times, 1):
        clock.now = t
        progress.epoch(EpochRecord(i, 0.5, 0.9, 0.5, 0.9, 0.1, 0.01), len(times))


def test_a_log_gets_an_epoch_line_every_30_s_or_every_epoch_whichever_is_rarer():
    for make in (lambda c, clock: RichProgress(c, clock=clock),
                 lambda c, clock: WorkerProgress("w1", c, clock=clock)):
        out, clock = io.StringIO(), Clock()
        progress = make(Console(file=out, width=200), clock)  # a file: not a terminal
        _epochs(progress, clock, [10, 20, 31, 45, 62, 200, 201])
        lines = [x for x in out.getvalue().splitlines() if "epoch" in x]
        assert [re.search(r"epoch (\d+)/7", x).group(1) for x in lines] == ["3", "5", "6"], lines


def test_a_terminal_gets_no_epoch_lines():
    out, clock = io.StringIO(), Clock()
    progress = RichProgress(Console(file=out, width=200, force_terminal=True), clock=clock)
    _epochs(progress, clock, [40, 80])
    assert "epoch 1/2" not in out.getvalue() and "epoch 2/2" not in out.getvalue()


COMPRESSION = """
[study]
name = "shrink"
seeds = 1
metric = "artifact_test_accuracy"
[baseline]
dataset = "digits"
model = "tiny-cnn"
width = 4
epochs = 1
train_limit = 300
artifact = true
[axes.quantize]
choices = ["int8"]
"""


def test_a_compressed_state_puts_the_artifact_figures_first():
    metrics = fake_metrics(TrainConfig(), 0)
    state = compressed_state({"artifact_test_accuracy": 0.25, "artifact_bytes": 2_500_000},
                             metrics)
    line = trial_figures(metrics, state)
    assert line.startswith("test acc 25.00%  2.50 MB  (before compression "), line
    assert trial_figures(metrics, compressed_state({}, metrics)).startswith(
        f"test acc {100 * metrics.test_accuracy:.2f}%")


@pytest.mark.slow
def test_a_compressed_trial_line_shows_the_artifact_figures(tmp_path):
    (tmp_path / "s.toml").write_text(COMPRESSION)
    url = f"sqlite:///{tmp_path / 's.db'}"
    res = CliRunner().invoke(main, ["run", str(tmp_path / "s.toml"), "--storage", url],
                             env={"COLUMNS": "300"})  # one trial, one line
    assert res.exit_code == 0, res.output
    trials = optuna.load_study(study_name="shrink", storage=url).get_trials()
    lines = [x for x in res.output.splitlines() if re.search(r"\] trial \d ", x)]
    assert len(lines) == len(trials) == 2, res.output
    for line, t in zip(lines, trials, strict=True):
        after = 100 * t.user_attrs["artifact_test_accuracy"]
        before = 100 * t.user_attrs["test_accuracy"]
        assert f"test acc {after:.2f}%" in line, line  # the artifact's, first
        assert f"before compression {before:.2f}%" in line, line
        assert f"{t.user_attrs['artifact_bytes'] / 1e6:.2f} MB" in line, line

