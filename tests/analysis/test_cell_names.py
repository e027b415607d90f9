"""One display name per cell, whoever shows it (tables, the page, progress, failures, plan)."""

from ablation.analysis.records import BASELINE, FACTORIAL, cell_name


def test_a_cell_is_axis_equals_label_unless_the_label_says_it_already() -> None:
    assert cell_name("optimizer", "sgd") == "optimizer=sgd"
    assert cell_name(BASELINE, "baseline") == "baseline"
    assert cell_name(FACTORIAL, "optimizer=sgd, lr=0.01") == "optimizer=sgd, lr=0.01"
    assert cell_name("search", "lr=0.01, batch_size=64") == "lr=0.01, batch_size=64"
    assert cell_name("", "x") == "x"


def test_the_pareto_front_names_its_rows_as_every_other_display_does() -> None:
    from ablation.analysis.pareto import front_rows
    from ablation.analysis.records import TrialRecord

    sizes = {"artifact_test_accuracy": 0.9, "artifact_bytes": 100.0}
    trials = [TrialRecord(0, "complete", "prune", "0.5", 0, {}, sizes),
              TrialRecord(1, "complete", BASELINE, "baseline", 0, {}, sizes, is_baseline=True),
              TrialRecord(2, "complete", FACTORIAL, "prune=0.5, quantize=int8", 0, {}, sizes)]
    assert sorted(r.label for r in front_rows(trials)) == sorted(
        cell_name(t.axis, t.label) for t in trials)
