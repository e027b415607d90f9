"""What issue 19 says the verdict tables must show, through the row/table builders and through
the CLI (``run`` with a trainer that returns given per-seed accuracies, then ``show``/``export``).

``table_fit`` is that trainer: ABLATE_TEST_VALUES holds {optimizer: [accuracy % per seed]}.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from ablation.analysis.records import EpochRecord, Metrics, TrialRecord
from ablation.cli import main
from ablation.config.trainconfig import TrainConfig
from ablation.reporting.exports import TableInputs, export_texts
from ablation.reporting.summary import compare_rows, resolve_margin, summary_rows
from ablation.reporting.tables import paper_table
from ablation.reporting.text import to_markdown
from ablation.training.fit import EpochCallback, FitResult

# The per-seed values that crashed run/show/export/report with ZeroDivisionError (issue 19).
ISSUE = {"nadam": [98.8858, 99.1643, 98.8858], "adam": [99.1643, 98.8858, 98.8858]}
N_TEST = 3590  # counts over 3,590 test examples: 98.8858% = 3550 / 3590


def table_fit(config: TrainConfig, seed: int, *, data_dir: Path,
              on_epoch: EpochCallback | None = None, checkpoint: Any = None) -> FitResult:
    """Accuracy = ABLATE_TEST_VALUES[optimizer][seed] percent; no training, no predictions."""
    acc = json.loads(os.environ["ABLATE_TEST_VALUES"])[config.optimizer][seed] / 100
    if on_epoch is not None:
        on_epoch(EpochRecord(1, 1 - acc, acc, 1 - acc, acc, 0.1, 0.0))
    right = round(acc * N_TEST)
    metrics = Metrics(test_loss=1 - acc, test_accuracy=acc, macro_f1=acc, val_loss=1 - acc,
                      val_accuracy=acc, train_seconds=0.0, infer_seconds=0.0,
                      infer_ms_per_image=0.0, params=6, state_bytes=100, epochs_run=1,
                      confusion=((right, 0), (N_TEST - right, 0)))
    return FitResult(metrics, (), nn.Linear(2, 2))


def study_text(values: dict[str, list[float]]) -> str:
    others = [k for k in values if k != "nadam"]
    return (f'[study]\nname = "cases"\nseeds = {len(values["nadam"])}\n'
            '[baseline]\ndataset = "digits"\noptimizer = "nadam"\nepochs = 1\n'
            f"[axes.optimizer]\nchoices = {json.dumps(others)}\n")


def run_study(tmp_path: Path, values: dict[str, list[float]], *extra: str) -> str:
    """Run the study on ``values`` and return the storage URL; asserts exit 0."""
    path = tmp_path / "cases.toml"
    path.write_text(study_text(values))
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    res = CliRunner(env={"ABLATE_TEST_VALUES": json.dumps(values)}).invoke(
        main, ["run", str(path), "--trainer",
               "tests.reporting.test_verdict_cases:table_fit", "--storage", url, *extra])
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output and "verdict" in res.output
    return url


def verdict_line(output: str) -> str:
    """adam's row of the verdict table (printed after the other metrics' table)."""
    return [ln for ln in output.splitlines() if ln.lstrip().startswith("adam")][-1]


def trials_of(values: dict[str, list[float]]) -> list[TrialRecord]:
    out = []
    for label, xs in values.items():
        for seed, x in enumerate(xs):
            out.append(TrialRecord(len(out), "complete", "optimizer", label, seed, {},
                                   {"test_accuracy": x / 100}, x / 100, label == "nadam"))
    return out


def verdicts(values: dict[str, list[float]], margin: float | None = None) -> dict[str, str]:
    rows = summary_rows(trials_of(values), "test_accuracy", n_resamples=199)
    return {c.row.label: c.verdict for c in compare_rows(rows, n_resamples=199,
                                                         margin=margin)}


def test_the_issue_values_give_a_table_through_the_builders():
    rows = summary_rows(trials_of(ISSUE), "test_accuracy")
    margin = resolve_margin(rows, "test_accuracy", sizes={"test": N_TEST})
    table = to_markdown(paper_table("cases", rows, margin=margin))
    adam = next(ln for ln in table.splitlines() if ln.startswith("| adam"))
    assert "+0.00 [-0.69, 0.69]" in adam and "inconclusive" in adam and "unresolved" in adam
    for kind, text in export_texts("cases", trials_of(ISSUE), ["csv", "markdown", "latex"],
                                   inputs=TableInputs(sizes={"test": N_TEST})).items():
        assert "adam" in text, kind
    for shown in ("Effect: Cohen", "p equiv. adj.:", "Clopper"):  # every column has its note
        assert shown in table


def test_the_issue_values_give_a_table_through_show_export_and_report(tmp_path):
    url = run_study(tmp_path, ISSUE)
    shown = CliRunner().invoke(main, ["show", "cases", "--storage", url])
    assert shown.exit_code == 0, shown.output
    adam = verdict_line(shown.output)
    assert "inconclusive" in adam and "unresolved" in adam
    # default margin from the stored test-set size: 1.96 sqrt(2 p (1-p) / 3590) at 98.98%
    flat = " ".join(shown.output.split())  # the terminal wraps the notes
    assert "margin ±0.465 (default: the resolution of 3,590 test examples" in flat
    # the terminal drops three columns, and the notes of those columns with them
    for dropped in ("Effect: Cohen", "p equiv. adj.:", "Clopper", "bootstrap"):
        assert dropped not in flat
    out = tmp_path / "t.csv"
    page = tmp_path / "r.html"
    for args in (["export", "cases", "--csv", str(out)], ["report", "cases", "-o", str(page)]):
        res = CliRunner().invoke(main, [*args, "--storage", url])
        assert res.exit_code == 0, res.output
    assert "inconclusive" in page.read_text()


def test_two_seeds_with_identical_paired_differences_give_no_better_or_worse(tmp_path):
    # one test image apart on both seeds: p would be ~1e-13 from float noise (issue 19)
    def pct(counts: list[int]) -> list[float]:
        return [100 * c / N_TEST for c in counts]

    values = {"nadam": pct([3550, 3560]), "adam": pct([3549, 3559])}
    assert verdicts(values)["adam"] == "untested"
    three = {"nadam": pct([3550, 3560, 3554]), "adam": pct([3549, 3559, 3553])}
    assert verdicts(three)["adam"] == "untested"  # identical differences at n = 3 too
    url = run_study(tmp_path, values)
    text = CliRunner().invoke(main, ["export", "cases", "--csv", "-", "--storage", url]).output
    adam = next(r for r in csv.DictReader(io.StringIO(text)) if r["value"] == "adam")
    assert (adam["verdict"], adam["note"], adam["p_value"]) == ("untested", "n<3", "")


def test_ten_seeds_a_hundredth_of_a_point_and_margin_half_a_point_are_equivalent(tmp_path):
    base = [98.95, 99.12, 98.87, 99.31, 99.04, 98.78, 99.2, 99.09, 98.99, 99.15]
    # +0.01 point (one image of 10,000) on average, the differences spread by ~0.05 points
    noise = [0.05, -0.05, 0.04, -0.04, 0.06, -0.06, 0.03, -0.03, 0.02, -0.02]
    cell = [b + 0.01 + e for b, e in zip(base, noise, strict=True)]
    values = {"nadam": base, "adam": cell}
    assert verdicts(values, margin=0.5)["adam"] == "equivalent"
    url = run_study(tmp_path, values, "--margin", "0.5")
    assert "equivalent" in CliRunner().invoke(main, ["show", "cases", "--margin", "0.5",
                                                     "--storage", url]).output
    without = CliRunner().invoke(main, ["show", "cases", "--margin", "0.001", "--storage", url])
    # a margin below the noise shows nothing equivalent
    assert "equivalent" not in verdict_line(without.output)


def test_a_detected_difference_wins_over_equivalence():
    # +0.01 on every seed, spread 0.005: detected (better) although well inside ±0.5
    base = [98.95, 99.12, 98.87, 99.31, 99.04, 98.78, 99.2, 99.09, 98.99, 99.15]
    cell = [b + 0.01 + e for b, e in zip(base, [0.005, -0.005] * 5, strict=True)]
    rows = summary_rows(trials_of({"nadam": base, "adam": cell}), "test_accuracy",
                        n_resamples=199)
    adam = compare_rows(rows, n_resamples=199, margin=0.5)[1]
    assert (adam.verdict, adam.verdict_text) == ("better", "better (within margin)")


def test_three_noisy_seeds_are_inconclusive_with_a_detectable_difference():
    values = {"nadam": [98.9, 99.2, 98.7], "adam": [99.3, 98.8, 99.1]}
    rows = summary_rows(trials_of(values), "test_accuracy", n_resamples=199)
    adam = {c.row.label: c for c in compare_rows(rows, n_resamples=199, margin=0.3)}["adam"]
    assert adam.verdict == "inconclusive" and adam.rank is None
    assert adam.decision is not None and adam.decision.detectable > 0.5  # noise ~0.4 points


def test_three_of_three_seeds_won_export_an_interval_below_one(tmp_path):
    values = {"nadam": [98.9, 99.0, 98.8], "adam": [99.2, 99.25, 99.0]}
    url = run_study(tmp_path, values)
    text = CliRunner().invoke(main, ["export", "cases", "--csv", "-", "--storage", url]).output
    adam = next(r for r in csv.DictReader(io.StringIO(text)) if r["value"] == "adam")
    assert float(adam["p_improvement"]) == 1.0
    assert float(adam["p_improvement_ci95_low"]) == pytest.approx(0.2924, abs=1e-4)
    assert float(adam["p_improvement_ci95_high"]) == 1.0


def test_a_bad_margin_is_one_line_and_exit_2(tmp_path):
    res = CliRunner().invoke(main, ["show", "cases", "--margin", "-1", "--storage",
                                    f"sqlite:///{tmp_path / 'none.db'}"])
    assert res.exit_code == 2 and "--margin" in res.output and "Traceback" not in res.output
    path = tmp_path / "bad.toml"
    path.write_text(study_text(ISSUE).replace("seeds = 3", "seeds = 3\nmargin = \"big\""))
    bad = CliRunner().invoke(main, ["run", str(path), "--dry-run"])
    assert bad.exit_code == 2 and "study.margin must be a number > 0" in bad.output


@st.composite
def study_values(draw) -> dict[str, list[float]]:
    n = draw(st.integers(1, 12))
    cell = st.lists(st.sampled_from([0.0, 98.8858, 99.1643, 100.0]) | st.floats(0, 100),
                    min_size=n, max_size=n)
    names = draw(st.lists(st.sampled_from(["adam", "sgd", "rmsprop"]), min_size=1, max_size=3,
                          unique=True))
    base = draw(cell)
    out = {"nadam": base}
    for name in names:
        how = draw(st.sampled_from(["own", "same", "shifted"]))
        out[name] = (draw(cell) if how == "own" else list(base) if how == "same"
                     else [min(100.0, x + 0.2785) for x in base])
    return out


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(study_values(), st.sampled_from(["holm", "dunnett", "none"]),
       st.sampled_from([None, 0.3]))
def test_any_values_give_every_rendering(values, adjust, margin):
    inputs = TableInputs(adjust=adjust, margin=margin, sizes={"test": N_TEST})
    texts = export_texts("p", trials_of(values), ["csv", "markdown", "latex"], inputs=inputs)
    for row in csv.DictReader(io.StringIO(texts["csv"])):
        for key in ("p_value", "p_adjusted", "p_equivalence", "p_equivalence_adjusted",
                    "p_improvement", "p_improvement_ci95_low", "p_improvement_ci95_high"):
            assert row[key] == "" or 0.0 <= float(row[key]) <= 1.0, (key, row[key])
        assert row["verdict"] in ("baseline", "better", "worse", "equivalent", "inconclusive",
                                  "untested")
        for key in ("diff_test_accuracy_pct_t_ci95_low", "diff_test_accuracy_pct_t_ci95_high"):
            assert row[key] == "" or -100.0 <= float(row[key]) <= 100.0


def test_the_table_note_says_when_dunnett_fell_back():
    values = {"nadam": [98.9, 99.0, 98.8, 99.1], "adam": [99.0, 99.1, 98.9, 99.2],
              "sgd": [96.0, 99.5, 97.0, 99.9]}
    rows = summary_rows(trials_of(values), "test_accuracy", n_resamples=199)
    text = to_markdown(paper_table("cases", rows, adjust="dunnett"))
    assert "p adj. (Holm)" in text and "Dunnett was asked for but the cells' spreads differ" in text
