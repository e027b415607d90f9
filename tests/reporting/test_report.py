"""The report: chart rows on fixed inputs, the HTML page, embed, and a real headless browser."""

from __future__ import annotations

import html
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from ablation.analysis.records import (
    StudyData,
    TrialRecord,
    importance_note,
    median_trial,
)
from ablation.cli import main
from ablation.engine.results.reader import load_evidence, load_study_data, load_trials
from ablation.engine.storage.store import open_store
from ablation.engine.trials.worker import RunOptions, run_study
from ablation.reporting.page.browser import dump_dom, find_chromium, screenshot
from ablation.reporting.page.html import report_html, report_sections
from ablation.reporting.rows import (
    TrialPoint,
    bar_rows,
    confusion_rows,
    curve_rows,
    pareto_front,
    scatter_rows,
)
from ablation.reporting.summary import summary_rows
from ablation.spec.study import parse_study
from tests.fakes import FakeFit

T95_2 = 4.302652729911275  # t quantile 0.975 with 2 degrees of freedom


def trial(number, axis, label, acc, seed=0, base=False, state="complete", **metrics):
    return TrialRecord(number, state, axis, label, seed, {axis: label, "seed": seed},
                       {"test_accuracy": acc, "val_accuracy": acc, **metrics}, acc, base)


# ---- rows on fixed inputs ------------------------------------------------------------------

def test_bars_carry_mean_and_95ci_and_baseline_joins_every_axis():
    trials = [trial(0, "baseline", "baseline", 0.90, 0, True),
              trial(1, "lr", "0.1", 0.80), trial(2, "lr", "0.1", 0.81, 1),
              trial(3, "lr", "0.1", 0.82, 2),
              trial(4, "optimizer", "sgd", 0.70),
              trial(5, "lr", "0.2", 0.5, state="fail")]
    bars = bar_rows(summary_rows(trials))
    assert list(bars) == ["lr", "optimizer"]
    assert [b.label for b in bars["lr"]] == ["baseline", "0.1"]
    assert bars["lr"][0].is_baseline and not bars["lr"][1].is_baseline
    b = bars["lr"][1]
    assert b.n == 3 and b.mean == pytest.approx(81.0)
    assert b.err_plus == pytest.approx(T95_2 * 1.0 / math.sqrt(3))  # std of 80, 81, 82 is 1
    assert b.err_minus == pytest.approx(b.err_plus)
    assert bars["optimizer"][1].n == 1 and bars["optimizer"][1].err_plus == 0.0  # no fake CI


def test_single_axis_study_keeps_baseline_under_its_own_value():
    trials = [trial(0, "optimizer", "nadam", 0.9, base=True), trial(1, "optimizer", "sgd", 0.8)]
    bars = bar_rows(summary_rows(trials))
    assert [(b.label, b.is_baseline) for b in bars["optimizer"]] == [("nadam", True),
                                                                     ("sgd", False)]


def test_curves_average_over_seeds_with_a_std_band():
    trials = [trial(0, "opt", "a", 0.9, 0), trial(1, "opt", "a", 0.9, 1),
              trial(2, "opt", "b", 0.9), trial(3, "opt", "c", 0.9, state="fail")]
    epochs = [{"trial_number": 0, "epoch": 1, "val_loss": 1.0},
              {"trial_number": 0, "epoch": 2, "val_loss": 0.5},
              {"trial_number": 1, "epoch": 1, "val_loss": 2.0},
              {"trial_number": 2, "epoch": 1, "val_loss": 3.0},
              {"trial_number": 3, "epoch": 1, "val_loss": 9.0}]
    curves = curve_rows(trials, epochs, "val_loss")
    assert [c.label for c in curves] == ["a", "b"]  # the failed trial draws nothing
    a = curves[0]
    assert a.epochs == (1, 2) and a.n == (2, 1)
    assert a.mean == pytest.approx((1.5, 0.5))
    # ±std (0.71) reaches past the two seeds' values 1 and 2, so the band stops at them
    assert a.low == pytest.approx((1.0, 0.5)) and a.high == pytest.approx((2.0, 0.5))
    three = [trial(i, "opt", "a", 0.9, i) for i in range(3)]
    wide = curve_rows(three, [{"trial_number": i, "epoch": 1, "val_loss": v}
                              for i, v in enumerate((1.0, 2.0, 3.0))], "val_loss")[0]
    assert wide.low == pytest.approx((1.0,)) and wide.high == pytest.approx((3.0,))
    three_close = curve_rows(three, [{"trial_number": i, "epoch": 1, "val_loss": v}
                                     for i, v in enumerate((1.0, 1.0, 4.0))], "val_loss")[0]
    sd = math.sqrt(3.0)  # std of 1, 1, 4
    assert three_close.low == pytest.approx((1.0,))  # 2 - 1.73 would dip below the seeds
    assert three_close.high == pytest.approx((2.0 + sd,))
    acc = curve_rows(trials, [{"trial_number": 2, "epoch": 1, "val_accuracy": 0.25}],
                     "val_accuracy")
    assert acc[0].mean == (25.0,)  # percent, as in the tables


def test_pareto_front_keeps_only_undominated_points():
    pts = [TrialPoint(0, "a", 100, 90), TrialPoint(1, "b", 50, 80), TrialPoint(2, "c", 50, 85),
           TrialPoint(3, "d", 200, 89), TrialPoint(4, "e", 300, 95), TrialPoint(5, "f", 10, 10)]
    assert [p.number for p in pareto_front(pts)] == [5, 2, 0, 4]
    assert pareto_front([]) == []


def test_scatter_rows_skip_trials_without_the_metric():
    trials = [trial(0, "opt", "a", 0.5, artifact_bytes=1000.0), trial(1, "opt", "b", 0.6),
              trial(2, "opt", "c", 0.7, state="fail", artifact_bytes=10.0)]
    assert scatter_rows(trials, "artifact_bytes") == [TrialPoint(0, "opt=a", 1000.0, 50.0)]


def test_importance_note_and_confusion_rows():
    trials = [trial(0, "opt", "a", 0.5), trial(1, "opt", "b", 0.7), trial(2, "opt", "c", 0.7),
              trial(3, "opt", "d", 0.99, state="fail")]
    assert median_trial([]) is None and median_trial(trials[3:]) is None  # failed: never shown
    assert "at least two varied parameters" in importance_note(trials)
    two = [TrialRecord(i, "complete", "factorial", "", 0, {"a": i % 2, "b": i % 3}, {})
           for i in range(4)]
    assert "at least 8 complete trials" in importance_note(two)
    assert importance_note(two * 2) is None
    assert confusion_rows([[3, 1], [0, 0]]) == [[75.0, 25.0], [0.0, 0.0]]


# ---- the page ------------------------------------------------------------------------------

def make_study(url: str, tmp_path: Path, factorial: bool = False) -> None:
    axes = {"optimizer": {"choices": ["sgd", "adam", "nadam"]}}
    study = {"name": "opt", "seeds": 2}
    if factorial:
        axes = {"optimizer": {"choices": ["adam", "nadam"]}, "lr": {"choices": [0.001, 0.01]}}
        study = {"name": "fact", "seeds": 2, "mode": "factorial"}
    doc = {"study": study, "baseline": {"optimizer": "nadam", "epochs": 2}, "axes": axes}
    run_study(parse_study(doc, "test"), RunOptions(url, tmp_path / "artifacts", tmp_path),
              FakeFit())


def sections_of(page: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', page, re.S))


def test_report_leads_with_the_verdict_and_leaves_out_empty_sections(storage_url, tmp_path):
    make_study(storage_url, tmp_path)
    page = report_html(load_study_data(open_store(storage_url), "opt"))
    found = sections_of(page)
    assert list(found) == ["verdict", "metrics", "setup", "environment", "noise",
                           "bars-optimizer", "curves", "confusion", "time"]
    figures = {k: v.count('class="plotly-graph-div"') for k, v in found.items()}
    assert figures == {"verdict": 0, "metrics": 0, "setup": 0, "environment": 0, "noise": 0,
                       "bars-optimizer": 1, "curves": 1, "confusion": 1, "time": 1}
    verdict = found["verdict"]
    for col in ("Δ vs baseline [95% CI]", "P(improvement)", "p adj. (Holm)", "verdict"):
        assert html.escape(col) in verdict
    assert verdict.count("<tr>") == 4  # header + 3 optimizers
    assert "nadam" in found["setup"] and "optimizer" in found["setup"]  # the baseline config
    assert "0-1" not in found["setup"] and "0, 1 (2 seeds)" in found["setup"]
    env = found["environment"]
    assert "cpu" in env and "torch" in env and "none recorded (CPU run)" in env
    assert "2 points" not in page  # every point done: nothing pending to report
    assert not re.search(r"<script[^>]+src=", page)  # plotly.js is inline
    assert '<script src="http' not in page


def test_confusion_matrix_is_the_baselines_median_seed():
    trials = [trial(0, "opt", "nadam", 0.90, 0, True), trial(1, "opt", "nadam", 0.99, 1, True),
              trial(2, "opt", "nadam", 0.93, 2, True), trial(3, "opt", "sgd", 0.999, 0)]
    assert median_trial(trials) == 2  # 0.93: not the luckiest (0.99), not another cell's 0.999
    assert median_trial(trials[:2]) == 0  # even count: the lower middle one
    factorial = [trial(i, "factorial", f"c{i % 2}", 0.5 + 0.1 * i, i) for i in range(4)]
    assert median_trial(factorial) == 1  # no baseline: the best cell (c1: 0.6, 0.8), lower


def test_size_section_draws_pareto_front_when_trials_carry_artifact_bytes():
    trials = [trial(0, "quant", "fp32", 0.9, base=True, artifact_bytes=4000.0),
              trial(1, "quant", "int8", 0.89, artifact_bytes=1000.0),
              trial(2, "quant", "bad", 0.5, artifact_bytes=2000.0)]
    data = StudyData("q", trials, [], None, None, None, "n/a")
    size = next(s for s in report_sections(data) if s.key == "size")
    assert size.figure is not None
    front = [t for t in size.figure.data if t.name == "Pareto front"]
    assert list(front[0].x) == [1000.0, 4000.0]


def test_factorial_study_gets_parameter_importance(storage_url, tmp_path):
    make_study(storage_url, tmp_path, factorial=True)
    data = load_study_data(open_store(storage_url), "fact")
    assert data.importances is not None and set(data.importances) == {"optimizer", "lr"}
    assert sum(data.importances.values()) == pytest.approx(1.0)
    assert sections_of(report_html(data))["importance"].count('class="plotly-graph-div"') == 1


def test_report_command_and_its_user_errors(storage_url, tmp_path):
    make_study(storage_url, tmp_path)
    out = tmp_path / "r.html"
    runner = CliRunner()
    ok = runner.invoke(main, ["report", "opt", "--storage", storage_url, "-o", str(out),
                              "--trial", "2"])
    assert ok.exit_code == 0, ok.output
    assert "Confusion matrix (trial 2: optimizer=" in out.read_text()
    assert "chosen with --trial" in out.read_text()
    default = runner.invoke(main, ["report", "opt", "--storage", storage_url, "-o", str(out)])
    assert default.exit_code == 0, default.output
    assert "seed 0; the baseline&#x27;s median seed" in out.read_text()
    bad = runner.invoke(main, ["report", "opt", "--storage", storage_url, "-o",
                               str(tmp_path / "nope" / "r.html")])
    assert bad.exit_code == 2 and "does not exist" in bad.output
    missing = runner.invoke(main, ["report", "opt", "--storage", storage_url, "-o", str(out),
                                   "--trial", "99"])
    assert missing.exit_code == 2 and "no trial 99" in missing.output


# ---- embed: a real (tiny) trained model --------------------------------------------------

def test_loaded_trial_model_reproduces_its_test_accuracy_and_embed_writes_a_map(
        storage_url, tmp_path):
    import torch

    from ablation.data.datasets import make_splits
    from ablation.engine.results.trained import load_trial_model
    from ablation.training.batches import Batcher
    from ablation.training.fit import EVAL_BATCH, fit

    doc = {"study": {"name": "tiny", "seeds": 1},
           "baseline": {"dataset": "digits", "width": 4, "epochs": 1, "batch_size": 64,
                        "train_limit": 200},
           "axes": {"optimizer": {"choices": ["nadam"]}}}
    run_study(parse_study(doc, "test"), RunOptions(storage_url, tmp_path / "artifacts",
                                                   tmp_path), fit)
    loaded = load_trial_model(open_store(storage_url), "tiny", 0, tmp_path / "artifacts", tmp_path)
    model, config = loaded.model, loaded.config
    assert config.width == 4 and config.train_limit == 200
    data = make_splits("digits", tmp_path, config.val_fraction, config.train_limit)
    batcher = Batcher.for_data(data.train_x, augment=False)
    with torch.inference_mode():
        pred = torch.cat([model(batcher(data.test_x[i:i + EVAL_BATCH])).argmax(1)
                          for i in range(0, len(data.test_x), EVAL_BATCH)])
    stored = load_trials(open_store(storage_url), "tiny")[0].metrics["test_accuracy"]
    assert float((pred == data.test_y).float().mean()) == pytest.approx(stored)
    # the predictions stored with the trial are the trained model's, on the same test set
    digest, correct = load_evidence(open_store(storage_url), "tiny").correct[0]
    assert correct.tolist() == (pred == data.test_y).tolist() and len(digest) == 32
    out = tmp_path / "e.html"
    res = CliRunner().invoke(main, ["embed", "tiny", "--trial", "0", "--sample", "60",
                                    "--storage", storage_url, "--data-dir", str(tmp_path),
                                    "--artifacts", str(tmp_path / "artifacts"), "-o", str(out)])
    assert res.exit_code == 0, res.output
    page = out.read_text()
    assert page.count('class="plotly-graph-div"') == 1 and "60 test images" in page
    gone = CliRunner().invoke(main, ["embed", "tiny", "--trial", "0", "--storage", storage_url,
                                     "--artifacts", str(tmp_path / "none"), "-o", str(out)])
    assert gone.exit_code == 2 and "not found in" in gone.output and "--artifacts" in gone.output


# ---- a real browser ------------------------------------------------------------------------

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium); "
    "the real-browser checks of the report need it")


@needs_chromium
def test_report_renders_in_headless_chromium(storage_url, tmp_path):
    from PIL import Image

    make_study(storage_url, tmp_path)
    page = tmp_path / "report.html"
    page.write_text(report_html(load_study_data(open_store(storage_url), "opt")), encoding="utf-8")
    dom = dump_dom(page)
    # the verdict table is the page's first section, ahead of every chart
    first = re.search(r'<section id="([^"]+)"', dom)
    assert first is not None and first.group(1) == "verdict"
    assert dom.index("P(improvement)") < dom.index('class="plot-container plotly"')
    # 4 charts (bars, curves, confusion, time): plotly builds one plot-container per chart
    assert dom.count('class="plot-container plotly"') == 4
    assert dom.count('class="main-svg"') >= 8  # each chart draws at least two SVG layers
    assert "<g class=\"barlayer" in dom or 'class="barlayer' in dom
    png = screenshot(page, tmp_path / "shot.png", width=1200, height=2400)
    with Image.open(png) as img:
        small = img.convert("RGB").resize((300, 600))
        colors = small.getcolors(maxcolors=300 * 600)
    assert colors is not None and len(colors) > 50  # a blank or single-colour page has ~1
    blue = sum(n for n, (r, g, b) in colors if b > 150 and r < 100)
    assert blue > 100  # the bars are plotly blue, so the charts themselves were painted


@needs_chromium
def test_charts_export_as_svg_and_png(tmp_path):
    from ablation.reporting.page.images import export_images

    trials = [trial(0, "opt", "a", 0.9, base=True), trial(1, "opt", "b", 0.8)]
    data = StudyData("x", trials, [], None, None, None, "n/a")
    bars = [s for s in report_sections(data) if s.key == "bars-opt"]
    written = export_images(bars, tmp_path / "img")
    assert sorted(p.name for p in written) == ["bars-opt.png", "bars-opt.svg"]
    assert (tmp_path / "img" / "bars-opt.svg").read_text().startswith("<svg")
    assert (tmp_path / "img" / "bars-opt.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
