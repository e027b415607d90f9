"""Outputs that must tell one story (issue #21): a baseline at chance level is named above the
table; ``export NAME`` exports what ``show NAME`` shows; a search stage's table says it is a
search and ranks nothing."""

from __future__ import annotations

from click.testing import CliRunner

from ablation.analysis.records import TrialRecord
from ablation.cli import main
from ablation.reporting.summary import chance_warning
from tests.bad_input_cases import _done


def _baseline(acc: float, seed: int = 0) -> TrialRecord:
    return TrialRecord(seed, "complete", "optimizer", "nadam", seed, {},
                       {"test_accuracy": acc}, acc, is_baseline=True)


def test_a_baseline_near_chance_gets_one_warning_and_a_trained_one_none():
    near = chance_warning([_baseline(0.12), _baseline(0.17, 1)], chance=0.10)
    assert near is not None and "14.50%" in near and "chance (10.00%" in near
    assert chance_warning([_baseline(0.25)], chance=0.10) is None  # 15 points above chance
    assert chance_warning([_baseline(0.62)], chance=0.55) is not None  # imbalanced classes
    assert chance_warning([_baseline(0.12)], chance=None) is None


def test_show_of_an_untrained_study_warns_once_above_the_table(tmp_path):
    _done(tmp_path)  # digits, 1 epoch on 100 images: the models stay at chance
    res = CliRunner().invoke(main, ["show", "bad", "--storage",
                                    f"sqlite:///{tmp_path / 'done.db'}"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].startswith("warning: the baseline's test accuracy"), res.output
    assert res.output.count("warning: the baseline") == 1
