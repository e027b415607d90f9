"""Summary tables with statistics: rows, CSV/Markdown/LaTeX text, and the export command."""

import csv
import io
import math

import pytest
from click.testing import CliRunner
from scipy import stats as st

from ablation.analysis.records import TrialRecord
from ablation.cli import main
from ablation.reporting.exports import export_texts
from ablation.reporting.summary import compare_rows, summary_rows
from ablation.reporting.tables import paper_table
from ablation.reporting.text import latex_escape, to_latex, to_markdown

# accuracy per seed (fractions, as stored); the baseline "nadam" tracks "adam" seed by seed
ACC = {"nadam": [0.971, 0.968, 0.974], "adam": [0.965, 0.961, 0.969],
       "sgd": [0.90, 0.91, 0.905], "odd_50%": [0.97]}


def trials():
    out, number = [], 0
    for label, values in ACC.items():
        for seed, acc in enumerate(values):
            out.append(TrialRecord(number, "complete", "optimizer", label, seed, {},
                                   {"test_accuracy": acc, "test_loss": 1 - acc,
                                    "train_seconds": 10.0 + seed, "macro_f1": acc},
                                   acc, label == "nadam"))
            number += 1
    out.append(TrialRecord(number, "fail", "optimizer", "sgd", 3, {}, {}, None, False))
    return out


def by_label(compared):
    return {c.row.label: c for c in compared}


def test_compare_rows_against_baseline():
    rows = by_label(compare_rows(summary_rows(trials())))
    base, adam, sgd, odd = rows["nadam"], rows["adam"], rows["sgd"], rows["odd_50%"]
    assert base.comparison is None and base.verdict == "baseline"
    a = [100 * v for v in ACC["adam"]]
    b = [100 * v for v in ACC["nadam"]]
    assert adam.comparison.test == "paired"
    assert adam.comparison.p == pytest.approx(st.ttest_rel(a, b).pvalue)
    assert adam.comparison.diff == pytest.approx(sum(a) / 3 - sum(b) / 3)
    assert adam.verdict == "worse" and sgd.verdict == "worse"
    assert odd.verdict == "untested" and odd.comparison.note == "n<2"
    assert math.isnan(odd.comparison.p)
    # nadam leads; odd (n=1) cannot be told apart from it; adam and sgd are worse.
    assert (base.rank, odd.rank, adam.rank, sgd.rank) == (1, 1, 3, 4)


def test_loss_metric_flips_direction():
    rows = by_label(compare_rows(summary_rows(trials()), metric="test_loss"))
    assert rows["sgd"].verdict == "worse" and rows["sgd"].comparison.diff > 0
    assert rows["nadam"].rank == 1


def test_summary_csv_has_statistics_columns():
    text = export_texts("s", trials(), ["csv"], level=0.01)["csv"]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["value"] for r in rows] == ["nadam", "adam", "sgd", "odd_50%"]
    assert {"diff_vs_baseline", "p_value", "test", "verdict", "rank"} <= set(rows[0])
    assert rows[0]["verdict"] == "baseline" and rows[0]["p_value"] == ""
    assert rows[2]["test"] == "paired" and rows[2]["verdict"] == "worse"
    assert rows[3]["note"] == "n<2" and rows[3]["p_value"] == "" and rows[3]["level"] == "0.01"


def test_holm_adjustment_of_the_verdicts_and_its_csv_columns():
    # Raw p: sgd 0.0037, adam 0.0091 (paired, vs nadam); Holm over the two: 0.0075 and 0.0091.
    raw = by_label(compare_rows(summary_rows(trials()), level=0.005))
    held = by_label(compare_rows(summary_rows(trials()), level=0.005, adjust="holm"))
    p_sgd, p_adam = raw["sgd"].comparison.p, raw["adam"].comparison.p
    assert p_sgd < 0.005 < 2 * p_sgd
    assert raw["sgd"].verdict == "worse" and held["sgd"].verdict == "indistinguishable"
    assert held["sgd"].comparison.p_holm == pytest.approx(2 * p_sgd)
    assert held["adam"].comparison.p_holm == pytest.approx(max(2 * p_sgd, p_adam))
    assert held["sgd"].comparison.p == p_sgd  # the unadjusted p is still reported
    assert held["odd_50%"].verdict == "untested"
    text = export_texts("s", trials(), ["csv", "markdown"], level=0.005, adjust="holm")
    rows = list(csv.DictReader(io.StringIO(text["csv"])))
    assert [r["verdict_adjustment"] for r in rows] == ["holm"] * 4
    assert float(rows[2]["p_holm"]) == pytest.approx(2 * p_sgd) and rows[0]["p_holm"] == ""
    assert "Holm-adjusted" in text["markdown"]


def _cells(line: str, sep: str) -> int:
    """Unescaped separators in one rendered row."""
    count, escaped = 0, False
    for ch in line:
        count += ch == sep and not escaped
        escaped = ch == "\\" and not escaped
    return count


def test_markdown_shape_and_cells():
    table = paper_table("optimizers", summary_rows(trials()))
    text = to_markdown(table)
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    assert len(lines) == 2 + 4  # header, rule, one row per configuration
    assert all(_cells(ln, "|") == len(table.header) + 1 for ln in lines)
    assert "test accuracy (%) ± CI95" in lines[0] and "verdict" in lines[0]
    nadam = lines[2]
    half = st.t.ppf(0.975, 2) * st.tstd([97.1, 96.8, 97.4]) / math.sqrt(3)
    assert f"97.10 ± {half:.2f}" in nadam and "nadam (baseline)" in nadam
    odd = next(ln for ln in lines if ln.startswith("| odd"))
    assert "| 97.00 |" in odd and "untested (n<2)" in odd  # n = 1: bare mean, no ± 0.00
    assert "95% confidence interval" in text


def test_latex_escapes_and_column_counts():
    table = paper_table("opt_study #1 & co", summary_rows(trials()))
    text = to_latex(table)
    rows = [ln for ln in text.splitlines() if ln.endswith(r"\\")]
    assert len(rows) == 1 + 4
    assert all(_cells(ln, "&") == len(table.header) - 1 for ln in rows)
    assert r"odd\_50\%" in text and r"opt\_study \#1 \& co" in text
    assert r"$\pm$" in text and "±" not in text
    spec = text.split(r"\begin{tabular}{")[1].split("}")[0]
    assert len(spec) == len(table.header) and set(spec) == {"l", "r"}


def test_latex_escape_every_special_character():
    assert latex_escape("a_b%c&d#e$f{g}") == r"a\_b\%c\&d\#e\$f\{g\}"
    assert latex_escape("x\\y") == r"x\textbackslash{}y"


def test_per_trial_markdown_has_one_row_per_trial():
    text = export_texts("s", trials(), ["markdown"], per_trial=True)["markdown"]
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    assert len(lines) == 2 + len(trials())
    assert "| fail |" in text.replace("  ", " ")


def test_export_command_writes_all_formats(tmp_path, storage_url):
    from tests.test_cli import STUDY

    study = tmp_path / "mini.toml"
    study.write_text(STUDY)
    run = CliRunner().invoke(main, ["run", str(study), "--storage", storage_url,
                                    "--data-dir", str(tmp_path)])
    assert run.exit_code == 0, run.output
    md, tex, cs = tmp_path / "t.md", tmp_path / "t.tex", tmp_path / "t.csv"
    res = CliRunner().invoke(main, ["export", "mini", "--markdown", str(md), "--latex",
                                    str(tex), "--csv", str(cs), "--storage", storage_url])
    assert res.exit_code == 0, res.output
    assert md.read_text().count("\n| ") == 1 + 2  # header + 2 optimizers (+ rule)
    assert r"\begin{tabular}" in tex.read_text()
    assert list(csv.DictReader(cs.open()))[1]["test"] == "paired"
    none = CliRunner().invoke(main, ["export", "mini", "--storage", storage_url])
    assert none.exit_code == 2 and "at least one of --csv" in none.output
    shown = CliRunner().invoke(main, ["show", "mini", "--storage", storage_url])
    assert shown.exit_code == 0 and "verdict" in shown.output and "baseline" in shown.output
    holm_csv = tmp_path / "h.csv"
    res = CliRunner().invoke(main, ["export", "mini", "--csv", str(holm_csv), "--adjust", "holm",
                                    "--storage", storage_url])
    assert res.exit_code == 0, res.output
    assert {r["verdict_adjustment"] for r in csv.DictReader(holm_csv.open())} == {"holm"}
    shown = CliRunner().invoke(main, ["show", "mini", "--adjust", "holm", "--storage",
                                      storage_url])
    assert shown.exit_code == 0 and "baseline" in shown.output
    bad = CliRunner().invoke(main, ["show", "mini", "--adjust", "sidak", "--storage",
                                    storage_url])
    assert bad.exit_code == 2 and "--adjust" in bad.output
