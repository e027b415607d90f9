"""The ablate command through click's CliRunner and as a real subprocess."""

import csv
import io
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ablation.cli import main
from tests.fakes import MINI_STUDY


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def study_file(tmp_path: Path) -> Path:
    path = tmp_path / "mini.toml"
    path.write_text(MINI_STUDY)
    return path


def test_run_show_and_export(tmp_path, storage_url, study_file):
    res = invoke("run", str(study_file), "--storage", storage_url, "--data-dir", str(tmp_path))
    assert res.exit_code == 0, res.output
    assert "4 trial(s) run now" in res.output
    shown = invoke("show", "mini", "--storage", storage_url)
    assert shown.exit_code == 0 and "nadam" in shown.output and "sgd" in shown.output
    out = tmp_path / "t.csv"
    assert invoke("export", "mini", "--csv", str(out), "--storage", storage_url).exit_code == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["value"] for r in rows] == ["nadam", "sgd"] and all(r["n"] == "2" for r in rows)
    assert {"test_accuracy_pct_mean", "test_accuracy_pct_std", "test_loss_mean",
            "train_seconds_mean", "p_improvement", "test_accuracy_pct_boot_ci95_low"
            } <= set(rows[0])
    assert rows[0]["baseline"] == "True" and rows[1]["baseline"] == "False"
    per = invoke("export", "mini", "--csv", "-", "--per-trial", "--storage", storage_url)
    trials = list(csv.DictReader(io.StringIO(per.output)))
    assert len(trials) == 4 and {t["seed"] for t in trials} == {"0", "1"}
    again = invoke("run", str(study_file), "--storage", storage_url, "--data-dir", str(tmp_path))
    assert "0 trial(s) run now, 4 done before" in again.output


def test_builtin_optimizers_study_on_digits_with_overrides(tmp_path, storage_url):
    # About naming and --max-trials, not training: the real models, untrained (tests/fakes.py).
    res = invoke("run", "optimizers", "--dataset", "digits", "--epochs", "1", "--seeds", "1",
                 "--max-trials", "2", "--storage", storage_url, "--data-dir", str(tmp_path),
                 "--trainer", "tests.fakes:untrained_fit")
    assert res.exit_code == 0, res.output
    assert "optimizers[dataset=digits,epochs=1]: 2 trial(s) run now" in res.output
    # export finds the run by the plain study name when only one variant exists
    out = invoke("export", "optimizers", "--csv", "-", "--storage", storage_url)
    assert out.exit_code == 0 and out.output.count("\n") == 3  # header + 2 optimizers


def test_quick_start_ends_with_a_verdict_table_and_a_csv_with_estimates(tmp_path, storage_url):
    res = invoke("run", "optimizers", "--dataset", "digits", "--trainer",
                 "tests.fakes:untrained_fit", "--storage", storage_url)
    assert res.exit_code == 0, res.output
    table = res.output.split("left of 24")[1]
    assert "verdict" in table and "P(impr.)" in table and "(Holm)" in table
    for name in ("nadam (baseline)", "sgd", "adamax"):
        assert name in table
    assert any(v in table for v in ("better", "worse", "equivalent", "inconclusive"))
    assert "indistinguishable" not in table
    assert "All 24 points done." in table and f"Stored in {storage_url}" in table
    out = tmp_path / "t.csv"
    assert invoke("export", "optimizers", "--csv", str(out), "--storage",
                  storage_url).exit_code == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 8 and rows[1]["p_improvement"] != ""
    for r in rows:
        for k in ("test_accuracy_pct_t_ci95_low", "test_accuracy_pct_t_ci95_high",
                  "test_accuracy_pct_boot_ci95_low", "test_accuracy_pct_boot_ci95_high"):
            assert 0.0 <= float(r[k]) <= 100.0


def test_dry_run_writes_nothing(tmp_path, storage_url):
    res = invoke("run", "optimizers", "--dataset", "digits", "--dry-run",
                 "--storage", storage_url, "--data-dir", str(tmp_path))
    assert res.exit_code == 0, res.output
    assert "8 trial(s) run now" in res.output and "dry run" in res.output
    assert not Path(storage_url.removeprefix("sqlite:///")).exists()


def test_studies_lists_builtins():
    res = invoke("studies")
    lines = res.output.splitlines()
    names = [line.split()[0] for line in lines]
    assert res.exit_code == 0 and len(names) == len(set(names)) == 14
    assert {"activations", "augmentation", "baselines", "blocks", "loss", "lr", "optimizers",
            "compression", "sparse-training", "compression-pareto", "lr-search",
            "compression-search", "lightweight-mnist", "kaggle-digits"} <= set(names)
    assert "then lr/fine" in next(line for line in lines if line.startswith("lr "))
    search = next(line for line in lines if line.startswith("lr-search "))
    assert "tpe, 30 trials" in search and "then lr-search/confirm x 5 seeds" in search


BAD_OPTIMIZER = MINI_STUDY.replace('"sgd", "nadam"', '"sgd", "adamm"')


@pytest.mark.parametrize("args,message", [
    (["run", "nosuchstudy"], "unknown study 'nosuchstudy'"),
    (["run", "optimizers", "--dataset", "nosuchdata"], "unknown dataset 'nosuchdata'"),
    (["run", "optimizers", "--model", "vgg"], "unknown model 'vgg'"),
    (["run", "optimizers", "--storage", "nosuch://x"], "unknown database scheme"),
    (["run", "optimizers", "--storage", "not a url"], "is not a database URL"),
    (["run", "optimizers", "--dataset", "mnist"], "mnist: data files not found"),
    (["show", "optimizers"], "no database at"),
    (["export", "optimizers", "--csv", "x.csv"], "no database at"),
])
def test_user_errors_exit_2_with_one_line_and_write_nothing(tmp_path, monkeypatch, args,
                                                            message):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 2, res.output
    assert message in res.output and res.output.count("\n") == 1
    assert not (tmp_path / "storage" / "ablate.db").exists()
    assert not (tmp_path / "x.csv").exists()


def test_unknown_optimizer_in_a_study_file_names_file_and_key(tmp_path, storage_url):
    path = tmp_path / "bad.toml"
    path.write_text(BAD_OPTIMIZER)
    res = CliRunner().invoke(main, ["run", str(path), "--storage", storage_url])
    assert res.exit_code == 2
    assert "bad.toml" in res.output and "axes.optimizer" in res.output and "adamm" in res.output
    assert not Path(storage_url.removeprefix("sqlite:///")).exists()


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_text("hello, not sqlite")
    res = CliRunner().invoke(main, ["run", "optimizers", "--dataset", "digits",
                                    "--storage", f"sqlite:///{junk}"])
    assert res.exit_code == 2 and "is not an SQLite database" in res.output
    assert junk.read_text() == "hello, not sqlite"


def test_every_command_has_help():
    for cmd in main.commands:
        res = invoke(cmd, "--help")
        assert res.exit_code == 0 and "Usage:" in res.output


def test_real_subprocess_help_is_fast_and_errors_exit_2():
    start = time.perf_counter()
    ok = subprocess.run([sys.executable, "-m", "ablation", "--help"], capture_output=True,
                        text=True, check=False)
    assert ok.returncode == 0 and "run" in ok.stdout
    assert time.perf_counter() - start < 5  # heavy imports are deferred (measured ~0.15 s)
    bad = subprocess.run([sys.executable, "-m", "ablation", "run", "nosuch"],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().startswith("error: unknown study")
