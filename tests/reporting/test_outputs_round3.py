"""Outputs that must tell one story (issue #21): a baseline at chance level is named above the
table; ``export NAME`` exports what ``show NAME`` shows; a search stage's table says it is a
search and ranks nothing."""

from __future__ import annotations

import pytest
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


SEARCH = """
[study]
name = "srch"
metric = "val_accuracy"
sampler = "tpe"
n_trials = 4
seeds = 2
confirm = { top = 2, seeds = 2, digits = 2 }
[baseline]
dataset = "digits"
model = "tiny-cnn"
width = 4
epochs = 1
[axes.lr]
low = 1e-4
high = 1e-1
log = true
"""


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    folder = tmp_path_factory.mktemp("search")
    (folder / "s.toml").write_text(SEARCH)
    url = f"sqlite:///{folder / 's.db'}"
    res = CliRunner().invoke(main, ["run", str(folder / "s.toml"), "--storage", url,
                                    "--trainer", "tests.fakes:sleep_fit"])
    assert res.exit_code == 0, res.output
    return url


def _cli(*args: str):
    res = CliRunner().invoke(main, list(args), env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    return res


def test_export_name_exports_what_show_name_shows(searched):
    shown = _cli("show", "srch", "--storage", searched)
    assert "showing its confirm stage 'srch/confirm'" in shown.stderr
    exported = _cli("export", "srch", "--csv", "-", "--storage", searched)
    assert "exporting its confirm stage 'srch/confirm'" in exported.stderr
    confirm = _cli("export", "srch/confirm", "--csv", "-", "--storage", searched)
    assert exported.stdout == confirm.stdout and "srch/confirm," in exported.stdout


def test_a_search_stage_table_ranks_nothing_and_points_to_the_confirmed_table(searched):
    shown = _cli("show", "srch", "--search-stage", "--storage", searched).stdout
    assert "search stage (4 single-seed trials)" in shown
    table = shown.split("A search stage:")[0]  # the title, header and rows
    assert "Holm over" not in shown and "verdict" not in table and "rank" not in table
    assert "ablate show srch." in " ".join(shown.split())
    md = _cli("export", "srch", "--search-stage", "--markdown", "-", "--storage",
              searched).stdout
    assert md.startswith("### srch: search stage") and "| rank" not in md and "Holm" not in md
    values = [float(line.split("|")[4]) for line in md.splitlines()
              if line.startswith("| ") and line.split("|")[1].strip().isdigit()]
    assert len(values) == 4 and values == sorted(values, reverse=True)  # best first
    csv_head = _cli("export", "srch", "--search-stage", "--csv", "-", "--storage",
                    searched).stdout.splitlines()[0]
    assert "rank" not in csv_head and "verdict" not in csv_head
