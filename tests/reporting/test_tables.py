"""Summary tables with statistics: rows against scipy, CSV/Markdown/LaTeX text, and export."""

import csv
import io
import math
import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats as st

from ablation.analysis.records import TrialRecord
from ablation.analysis.stats import holm
from ablation.cli import main
from ablation.reporting.exports import TableInputs, export_texts, number
from ablation.reporting.latex import (
    TEXT_WIDTH_PT,
    compact_verdict_table,
    split_to_fit,
    to_booktabs,
    width_pt,
)
from ablation.reporting.summary import compare_rows, summary_rows
from ablation.reporting.tables import paper_table
from ablation.reporting.text import TextTable, latex_escape, to_markdown

# accuracy per seed (fractions, as stored); the baseline "nadam" tracks "adam" seed by seed
ACC = {"nadam": [0.971, 0.968, 0.974], "adam": [0.965, 0.961, 0.969],
       "sgd": [0.90, 0.91, 0.905], "odd_50%": [0.97]}


def trials(acc=ACC):
    out, number_ = [], 0
    for label, values in acc.items():
        for seed, a in enumerate(values):
            out.append(TrialRecord(number_, "complete", "optimizer", label, seed, {},
                                   {"test_accuracy": a, "test_loss": 1 - a,
                                    "train_seconds": 10.0 + seed, "macro_f1": a,
                                    "state_bytes": 1765800},
                                   a, label == "nadam"))
            number_ += 1
    out.append(TrialRecord(number_, "fail", "optimizer", "sgd", 3, {}, {}, None, False))
    return out


def by_label(compared):
    return {c.row.label: c for c in compared}


def pct(label):
    return [100 * v for v in ACC[label]]


def test_compare_rows_against_baseline_match_scipy_with_holm_by_default():
    rows = by_label(compare_rows(summary_rows(trials())))
    base, adam, sgd, odd = rows["nadam"], rows["adam"], rows["sgd"], rows["odd_50%"]
    assert base.decision is None and base.verdict == "baseline"
    raw = [st.ttest_rel(pct(c), pct("nadam")).pvalue for c in ("adam", "sgd")]
    assert adam.decision.test == "paired" and adam.decision.adjustment == "holm"
    assert [adam.decision.p, sgd.decision.p] == pytest.approx(raw)
    assert [adam.decision.p_adj, sgd.decision.p_adj] == pytest.approx(holm(raw))
    d = np.subtract(pct("adam"), pct("nadam"))
    assert adam.contrast.diff == pytest.approx(d.mean())
    ci = st.ttest_rel(pct("adam"), pct("nadam")).confidence_interval(0.95)
    assert (adam.contrast.t_ci.low, adam.contrast.t_ci.high) == pytest.approx((ci.low, ci.high))
    assert adam.contrast.p_improve == 0.0 and adam.contrast.effect.name == "cohen_dz"
    assert adam.contrast.effect.value == pytest.approx(d.mean() / d.std(ddof=1))
    assert adam.verdict == "worse" and sgd.verdict == "worse"  # Holm p < 0.05 for both
    assert odd.verdict == "untested" and odd.decision.note == "n<3" and math.isnan(odd.decision.p)
    # ranks follow the verdicts: the untested cell is unresolved, not tied with the baseline
    assert (base.rank, odd.rank, adam.rank, sgd.rank) == (1, None, 2, 3)


def test_verdicts_and_ranks_follow_the_adjusted_p():
    # Raw p: sgd 0.0037, adam 0.0091 (paired, vs nadam); Holm over the two: 0.0075 and 0.0091.
    raw = by_label(compare_rows(summary_rows(trials()), level=0.005, adjust="none"))
    held = by_label(compare_rows(summary_rows(trials()), level=0.005, adjust="holm"))
    p_sgd = raw["sgd"].decision.p
    assert p_sgd < 0.005 < 2 * p_sgd
    assert raw["sgd"].verdict == "worse" and held["sgd"].verdict == "inconclusive"
    assert held["sgd"].decision.p_adj == pytest.approx(2 * p_sgd)
    assert held["sgd"].decision.p == p_sgd  # the unadjusted p is still reported
    # the rank moves with the verdict: an inconclusive cell is unresolved, not ranked
    assert raw["sgd"].rank > raw["nadam"].rank and held["sgd"].rank is None
    assert held["sgd"].decision.detectable > 0  # what these seeds could have detected
    dunnett = by_label(compare_rows(summary_rows(trials()), adjust="dunnett"))
    assert dunnett["adam"].decision.test == "dunnett"
    assert dunnett["adam"].decision.p_adj >= dunnett["adam"].decision.p


def test_loss_metric_flips_direction():
    rows = by_label(compare_rows(summary_rows(trials()), metric="test_loss"))
    assert rows["sgd"].verdict == "worse" and rows["sgd"].contrast.diff > 0
    assert rows["sgd"].contrast.p_improve == 0.0  # higher loss never improves
    assert rows["nadam"].rank == 1


NEAR_100 = {"nadam": [0.999, 0.995, 0.990], "adagrad": [0.9747, 0.999, 1.0]}


def test_summary_csv_units_bootstrap_and_p_improvement_columns():
    text = export_texts("s", trials(), ["csv"])["csv"]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["value"] for r in rows] == ["nadam", "adam", "sgd", "odd_50%"]
    head = set(rows[0])
    assert {"test_accuracy_pct_mean", "test_accuracy_pct_boot_ci95_low",
            "test_accuracy_pct_boot_ci95_high", "test_accuracy_pct_boot_method",
            "p_improvement", "p_improvement_ci95_low", "p_improvement_ci95_high",
            "diff_test_accuracy_pct", "p_value", "p_adjusted", "verdict", "rank",
            "effect_size"} <= head
    assert not any(h.startswith("test_accuracy_mean") for h in head)  # units in every name
    assert float(rows[0]["test_accuracy_pct_mean"]) == pytest.approx(97.1)
    assert rows[0]["state_bytes_mean"] == "1765800"  # exact, not 1.7658e+06
    adam = rows[1]
    assert adam["test"] == "paired" and adam["adjustment"] == "holm"
    assert adam["test_accuracy_pct_boot_method"] in ("bca", "percentile")
    assert float(adam["p_improvement"]) == 0.0 and adam["verdict"] == "worse"
    assert rows[3]["note"] == "n<3" and rows[3]["p_value"] == "" and rows[3]["rank"] == ""
    # bootstrap intervals are labelled with their measured coverage (3 seeds: far below 95%)
    assert 0.5 < float(adam["test_accuracy_pct_boot_coverage"]) < 0.9
    assert adam["p_improvement_ci_method"] == "clopper-pearson"


def test_no_accuracy_ci_leaves_0_100_and_the_t_interval_is_clipped():
    text = export_texts("s", trials(NEAR_100), ["csv"])["csv"]
    rows = list(csv.DictReader(io.StringIO(text)))
    ada = rows[1]
    x = [100 * v for v in NEAR_100["adagrad"]]
    unclipped = st.t.interval(0.95, 2, np.mean(x), st.sem(x))[1]
    assert unclipped > 100 and float(ada["test_accuracy_pct_t_ci95_high"]) == 100.0
    for r in rows:
        for k, v in r.items():
            if k.startswith(("test_accuracy_pct_", "macro")) and "ci95" in k and v:
                assert 0.0 <= float(v) <= 100.0, (k, v)
    per = list(csv.DictReader(io.StringIO(export_texts("s", trials(NEAR_100), ["csv"],
                                                       per_trial=True)["csv"])))
    assert float(per[0]["test_accuracy_pct"]) == pytest.approx(99.9)  # percent per trial too
    assert per[0]["state_bytes"] == "1765800"


def test_csv_numbers_are_exact_and_never_in_exponent_notation():
    assert number(1765800.0) == "1765800" and number(1765800, integer=True) == "1765800"
    assert number(0.1 + 0.2) == "0.3" and number(float("nan")) == "" and number(None) == ""
    assert number(1.23456789012345e-7) == "0.000000123456789"  # 10 significant digits


def _cells(line: str, sep: str) -> int:
    """Unescaped separators in one rendered row."""
    count, escaped = 0, False
    for ch in line:
        count += ch == sep and not escaped
        escaped = ch == "\\" and not escaped
    return count


def test_markdown_leads_with_the_verdict_table():
    text = export_texts("optimizers", trials(), ["markdown"])["markdown"]
    first = text.split("### ")[1]
    lines = [ln for ln in first.splitlines() if ln.startswith("|")]
    assert len(lines) == 2 + 4  # header, rule, one row per configuration
    header = lines[0]
    for col in ("Δ vs baseline [95% CI]", "P(improvement)", "p adj. (Holm)", "verdict", "rank",
                "p equiv. adj.", "detectable"):
        assert col in header
    assert "bootstrap" not in text  # not shown, and no note describes it
    assert all(_cells(ln, "|") == _cells(header, "|") for ln in lines)
    nadam = lines[2]
    half = st.t.ppf(0.975, 2) * st.tstd([97.1, 96.8, 97.4]) / math.sqrt(3)
    assert f"97.10 [{97.1 - half:.2f}, {97.1 + half:.2f}]" in nadam
    assert "nadam (baseline)" in nadam
    odd = next(ln for ln in lines if ln.startswith("| odd"))
    assert "| 97.00 |" in odd and "untested (n<3)" in odd  # n = 1: bare mean, no interval
    assert "not simultaneous" in text and "other metrics" in text


def test_latex_is_booktabs_escaped_and_fits_the_text_width():
    text = export_texts("opt_study #1 & co", trials(NEAR_100 | ACC), ["latex"])["latex"]
    assert r"\toprule" in text and r"\midrule" in text and r"\bottomrule" in text
    assert r"odd\_50\%" in text and r"opt\_study \#1 \& co" in text
    assert r"$\pm$" in text and "±" not in text and r"$^\dagger$" in text
    for block in text.split(r"\begin{tabular}{")[1:]:
        spec = block.split("}")[0]
        rows = [ln for ln in block.split(r"\midrule")[1].splitlines() if ln.endswith(r"\\")]
        assert rows and all(_cells(ln, "&") == len(spec) - 1 for ln in rows)
        assert len(spec) <= 8


def test_a_wide_table_is_split_into_parts_that_each_fit():
    wide = TextTable("w", ("value", "n", *(f"metric {i} (unit)" for i in range(9))),
                     (("sgd-nesterov", "3", *("0.2380 ± 0.0020",) * 9),), ("note",),
                     (False, *(True,) * 10))
    assert width_pt(wide) > TEXT_WIDTH_PT
    parts = split_to_fit(wide, keys=2)
    assert len(parts) > 1 and all(width_pt(p) <= TEXT_WIDTH_PT for p in parts)
    assert all(p.header[:2] == ("value", "n") for p in parts)
    assert sum(len(p.header) - 2 for p in parts) == 9 and parts[-1].notes == ("note",)
    rows = summary_rows(trials(NEAR_100 | ACC))
    verdict = compact_verdict_table("s", compare_rows(rows), "test_accuracy", 0.05, "holm")
    assert width_pt(verdict) <= TEXT_WIDTH_PT  # the verdict table fits whole


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_pdflatex_reports_no_overfull_box(tmp_path):
    body = export_texts("s", trials(NEAR_100 | ACC), ["latex"])["latex"]
    doc = tmp_path / "t.tex"
    doc.write_text("\\documentclass{article}\\usepackage{booktabs}\\begin{document}\n" + body
                   + "\\end{document}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", doc.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    log = (tmp_path / "t.log").read_text(errors="replace")
    assert done.returncode == 0, log[-2000:]
    assert "Overfull \\hbox" not in log


def test_latex_escape_every_special_character():
    assert latex_escape("a_b%c&d#e$f{g}") == r"a\_b\%c\&d\#e\$f\{g\}"
    assert latex_escape("x\\y") == r"x\textbackslash{}y"
    assert to_booktabs(TextTable("t", ("a",), (("1",),))).count(r"\\") == 2


def test_per_trial_markdown_has_one_row_per_trial():
    text = export_texts("s", trials(), ["markdown"], per_trial=True)["markdown"]
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    assert len(lines) == 2 + len(trials())
    assert "| fail |" in text.replace("  ", " ")


def test_paper_table_keeps_its_signature_for_the_dashboard():
    table = paper_table("s", summary_rows(trials()), "test_accuracy", 0.05, "holm")
    md = to_markdown(table)
    assert "p adj. (Holm)" in md and table.header[0] == "value"


def test_sequential_inputs_put_the_rule_verdicts_in_the_table():
    looks = [{"look": 1, "looks": 2, "seeds": 3, "n": 3, "metric": "test_accuracy",
              "design": "haybittle-peto", "level": 0.05, "cells": 3, "test": "paired",
              "p": 0.004, "threshold": 0.05 / 3 / 50, "diff": -0.6, "outcome": "continue",
              "axis": "optimizer", "label": "adam"}]
    text = export_texts("s", trials(), ["csv"], inputs=TableInputs(looks=looks))["csv"]
    adam = next(r for r in csv.DictReader(io.StringIO(text)) if r["value"] == "adam")
    # p 0.004 did not beat the interim threshold 0.000333: still open, adjusted p = 0.6
    assert adam["verdict"] == "open" and adam["adjustment"] == "sequential"
    assert float(adam["p_adjusted"]) == pytest.approx(0.004 * 0.05 / (0.05 / 150))


def test_export_command_writes_all_formats(tmp_path, storage_url):
    from tests.fakes import MINI_STUDY as STUDY

    study = tmp_path / "mini.toml"
    study.write_text(STUDY)
    run = CliRunner().invoke(main, ["run", str(study), "--storage", storage_url,
                                    "--data-dir", str(tmp_path)])
    assert run.exit_code == 0, run.output
    md, tex, cs = tmp_path / "t.md", tmp_path / "t.tex", tmp_path / "t.csv"
    res = CliRunner().invoke(main, ["export", "mini", "--markdown", str(md), "--latex",
                                    str(tex), "--csv", str(cs), "--storage", storage_url])
    assert res.exit_code == 0, res.output
    assert md.read_text().split("### ")[1].count("\n| ") == 1 + 2  # header + 2 optimizers
    assert r"\begin{tabular}" in tex.read_text() and r"\toprule" in tex.read_text()
    rows = list(csv.DictReader(cs.open()))
    # 2 seeds: no test (n < 3), whatever the values
    assert (rows[1]["verdict"], rows[1]["note"]) == ("untested", "n<3")
    assert rows[1]["adjustment"] == "holm" and rows[1]["p_value"] == ""
    assert rows[0]["test_noise_method"] == "per-example"  # the real trainer stored predictions
    none = CliRunner().invoke(main, ["export", "mini", "--storage", storage_url])
    assert none.exit_code == 2 and "at least one of --csv" in none.output
    for adjust in ("none", "dunnett"):
        out = tmp_path / f"{adjust}.csv"
        res = CliRunner().invoke(main, ["export", "mini", "--csv", str(out), "--adjust",
                                        adjust, "--storage", storage_url])
        assert res.exit_code == 0, res.output
        assert list(csv.DictReader(out.open()))[1]["adjustment"] == adjust
    bad = CliRunner().invoke(main, ["show", "mini", "--adjust", "sidak", "--storage",
                                    storage_url])
    assert bad.exit_code == 2 and "--adjust" in bad.output


def test_the_names_callers_used_before_issue_15_still_work(capsys):
    from ablation.reporting.console import print_summary

    compared = compare_rows(summary_rows(trials()), "test_accuracy", 0.05, "none")
    adam = by_label(compared)["adam"]
    assert adam.comparison is adam.decision and adam.comparison.p == adam.decision.p
    print_summary("s", compared, "test_accuracy", 0.05, "none")
    out = capsys.readouterr().out
    assert "p adj." in out and "(none)" in out and "worse" in out
    md = export_texts("s", trials(), ["markdown"], metric="test_loss")["markdown"]
    assert "Δ vs baseline" in md and "Test loss: mean" in md
