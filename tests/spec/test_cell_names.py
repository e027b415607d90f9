"""One display name per cell, whoever shows it (tables, the page, progress, failures, plan)."""

from ablation.spec.space import BASELINE, FACTORIAL, cell_name


def test_a_cell_is_axis_equals_label_unless_the_label_says_it_already() -> None:
    assert cell_name("optimizer", "sgd") == "optimizer=sgd"
    assert cell_name(BASELINE, "baseline") == "baseline"
    assert cell_name(FACTORIAL, "optimizer=sgd, lr=0.01") == "optimizer=sgd, lr=0.01"
    assert cell_name("search", "lr=0.01, batch_size=64") == "lr=0.01, batch_size=64"
    assert cell_name("", "x") == "x"
