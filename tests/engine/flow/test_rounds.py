"""Adding seeds to a stored study: --seeds N tops it up (never re-runs), --until-resolved adds
seeds in rounds only to open cells and records every look; show, plan and compare read them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest
from click.testing import CliRunner

from ablation.analysis.evalnoise import mcnemar_exact
from ablation.analysis.power import seeds_needed
from ablation.cli import main
from ablation.engine.results.reader import load_trials
from ablation.engine.storage import db, evidence
from ablation.engine.storage.store import open_store
from ablation.reporting.summary import summary_rows
from ablation.spec.study import extend_seeds, parse_study, with_overrides
from tests.fakes import _made_up_predictions

STUDY = """
[study]
name = "three"
seeds = 3
[baseline]
dataset = "digits"
optimizer = "nadam"
epochs = 1
[axes.optimizer]
choices = ["sgd", "adam"]
"""


@pytest.fixture
def study(tmp_path: Path) -> Path:
    path = tmp_path / "three.toml"
    path.write_text(STUDY)
    return path


def ablate(*args: str, **env: str):
    return CliRunner(env=env).invoke(main, list(args))


def started(log: Path) -> list[str]:
    return log.read_text().split("\n")[:-1] if log.exists() else []


def test_seeds_5_after_3_adds_two_per_point_and_reruns_nothing(study, tmp_path, storage_url):
    log = tmp_path / "fits.log"
    common = ("--trainer", "tests.fakes:sleep_fit", "--storage", storage_url)
    first = ablate("run", str(study), "--seeds", "3", *common, ABLATE_FAKE_LOG=str(log))
    assert first.exit_code == 0, first.output
    keys_3 = {line.split()[1] for line in started(log)}
    assert len(keys_3) == 9  # 3 configurations x 3 seeds
    more = ablate("run", str(study), "--seeds", "5", *common, ABLATE_FAKE_LOG=str(log))
    assert more.exit_code == 0, more.output
    calls = started(log)[9:]
    assert len(calls) == 6 and not {c.split()[1] for c in calls} & keys_3  # 2 per point, new
    assert "6 trial(s) run now, 9 done before, 0 left of 15" in more.output
    trials = load_trials(open_store(storage_url), "three")
    per_cell = {}
    for t in trials:
        per_cell.setdefault(t.label, set()).add(t.seed)
    assert per_cell == {"nadam": {0, 1, 2, 3, 4}, "sgd": {0, 1, 2, 3, 4},
                        "adam": {0, 1, 2, 3, 4}}
    assert len(trials) == 15  # one stored study, not a fork
    again = ablate("run", str(study), "--seeds", "5", *common, ABLATE_FAKE_LOG=str(log))
    assert "0 trial(s) run now, 15 done before" in again.output and len(started(log)) == 15


def test_seeds_extend_the_studys_own_list():
    assert extend_seeds((0, 1, 2), 5) == (0, 1, 2, 3, 4)
    assert extend_seeds((7, 11, 13), 5) == (7, 11, 13, 14, 15)
    assert extend_seeds((7, 11, 13), 2) == (7, 11)
    spec = parse_study({"study": {"name": "s", "seeds": [7, 11, 13]},
                        "axes": {"optimizer": {"choices": ["sgd"]}}}, "t")
    assert with_overrides(spec, seeds=4).seeds == (7, 11, 13, 14)


def test_run_ends_with_the_verdict_table_and_where_it_is_stored(study, storage_url):
    res = ablate("run", str(study), "--trainer", "tests.fakes:noisy_fit", "--storage",
                 storage_url)
    assert res.exit_code == 0, res.output
    table = res.output.split("study three:")[1]
    assert "P(impr.)" in table and "p adj." in table and "(Holm)" in table
    assert "worse" in table and "baseline" in table  # sgd is 5 points worse
    assert "All 9 points done." in table
    assert f"Stored in {storage_url} as 'three'." in table


def test_run_by_default_adds_rounds_only_to_unresolved_cells(study, storage_url, monkeypatch):
    monkeypatch.delenv("ABLATE_FIXED_SEEDS")  # conftest runs every other test's seeds once
    res = ablate("run", str(study), "--trainer", "tests.fakes:noisy_fit", "--storage",
                 storage_url)
    assert res.exit_code == 0, res.output
    # sgd (5 points worse) is decided from the first 3 seeds; adam (0.04 points from the
    # baseline, no margin without a test-set size) goes on to the cap: 3 + 12 + 12 trials
    assert "look 1 of 4 (3 seeds per cell): 1 cell(s) decided, 1 still open" in res.output
    assert "worse (look 1/4)" in res.output and "inconclusive (look 4/4)" in res.output
    assert "All 27 points done." in res.output
    for once in (("--seeds", "3"), ("--fixed-seeds",)):  # the seeds asked for, once
        fixed = ablate("run", str(study), "--trainer", "tests.fakes:noisy_fit", "--storage",
                       storage_url.replace(".db", f"{len(once)}.db"), *once)
        assert fixed.exit_code == 0 and "All 9 points done." in fixed.output
    env = ablate("run", str(study), "--trainer", "tests.fakes:noisy_fit", "--storage",
                 storage_url.replace(".db", "-env.db"), ABLATE_FIXED_SEEDS="1")
    assert "All 9 points done." in env.output


def test_a_password_in_the_storage_url_is_masked_at_the_end_of_run():
    from ablation.engine.storage.store import shown_url

    assert "s3cret" not in shown_url("postgresql://u:s3cret@localhost/db")


def test_show_says_what_is_pending(study, storage_url):
    res = ablate("run", str(study), "--trainer", "tests.fakes:noisy_fit", "--max-trials", "4",
                 "--storage", storage_url)
    assert res.exit_code == 0, res.output
    shown = ablate("show", "three", "--storage", storage_url)
    assert "4 of 9 points done; 5 pending" in shown.output


def test_until_resolved_adds_seeds_only_to_open_cells(study, tmp_path, storage_url):
    args = ("run", str(study), "--trainer", "tests.fakes:noisy_fit", "--until-resolved",
            "--max-seeds", "5", "--storage", storage_url)
    log = tmp_path / "fits.log"
    res = ablate(*args, ABLATE_FAKE_LOG=str(log))
    assert res.exit_code == 0, res.output
    assert "look 1 of 2 (3 seeds per cell): 1 cell(s) decided, 1 still open" in res.output
    store = open_store(storage_url)
    seeds = {}
    for t in load_trials(store, "three"):
        seeds.setdefault(t.label, set()).add(t.seed)
    # sgd (5 points worse) was decided at look 1: no seeds added to it
    assert seeds == {"nadam": {0, 1, 2, 3, 4}, "sgd": {0, 1, 2}, "adam": {0, 1, 2, 3, 4}}
    looks = {(r["look"], r["label"]): r for r in evidence.looks(store.engine, "three")}
    assert looks[(1, "sgd")]["outcome"] == "worse" and looks[(1, "adam")]["outcome"] == "continue"
    assert looks[(2, "adam")]["outcome"] == "inconclusive" and (2, "sgd") not in looks
    assert looks[(1, "sgd")]["threshold"] == pytest.approx(0.05 / 2 / 50)  # interim look
    assert looks[(2, "adam")]["threshold"] == pytest.approx(0.025 - 0.025 / 50)
    assert looks[(1, "sgd")]["p"] < looks[(1, "sgd")]["threshold"]
    shown = ablate("show", "three", "--storage", storage_url)
    assert "worse (look 1/2)" in shown.output and "(sequential)" in shown.output
    assert "inconclusive (look 2/2)" in shown.output
    assert "--until-resolved" in shown.output  # the note says where the verdicts come from
    again = ablate(*args, ABLATE_FAKE_LOG=str(log))
    assert again.exit_code == 0 and len(started(log)) == 13  # 9 + 2 x (adam, nadam): no rerun
    replanned = ablate(*args[:-3], "7", "--storage", storage_url)
    assert replanned.exit_code == 2 and "same --seeds, --max-seeds" in replanned.output


def test_until_resolved_option_mistakes_are_user_errors(study, storage_url):
    plain = ("run", str(study), "--trainer", "tests.fakes:noisy_fit", "--storage", storage_url)
    assert "needs --max-seeds" in ablate(*plain, "--until-resolved").output
    assert "with --until-resolved only" in ablate(*plain, "--max-seeds", "5").output
    low = ablate(*plain, "--until-resolved", "--max-seeds", "3")
    assert low.exit_code == 2 and "must be more than the 3 seeds" in low.output
    two = ablate(*plain, "--until-resolved", "--seeds", "2", "--max-seeds", "6")
    assert two.exit_code == 2 and "at least 3 seeds per cell" in two.output
    assert not Path(storage_url.removeprefix("sqlite:///")).exists()  # nothing written


def test_plan_prints_the_seeds_power_analysis_gives(study, storage_url):
    assert ablate("run", str(study), "--trainer", "tests.fakes:noisy_fit", "--storage",
                  storage_url).exit_code == 0
    res = ablate("plan", "three", "--detect", "0.1", "--storage", storage_url)
    assert res.exit_code == 0, res.output
    rows = {r.label: r.samples["test_accuracy"]
            for r in summary_rows(load_trials(open_store(storage_url), "three"))}
    need = seeds_needed(rows["adam"], rows["nadam"], 0.1, alpha=0.05 / 2)
    line = next(ln for ln in res.output.splitlines() if ln.strip().startswith("adam"))
    assert line.split()[1:4] == ["3", "inconclusive", "paired"]
    assert f" {need.n} " in f" {line} "
    # sgd is already worse: only the open cell (adam) sets the seeds to run
    assert f"three --seeds {need.n}` adds the missing ones" in " ".join(res.output.split())
    assert "0.05/2" in res.output
    bad = ablate("plan", "three", "--detect", "0", "--storage", storage_url)
    assert bad.exit_code == 2 and "nonzero" in bad.output


def test_compare_runs_mcnemar_on_the_stored_predictions(study, storage_url):
    assert ablate("run", str(study), "--trainer", "tests.fakes:sleep_fit", "--seeds", "1",
                  "--storage", storage_url).exit_code == 0
    trials = {t.number: t for t in load_trials(open_store(storage_url), "three")}
    res = ablate("compare", "three", "--trials", "0", "1", "--storage", storage_url)
    assert res.exit_code == 0, res.output
    correct = [np.equal(*_made_up_predictions(_config(storage_url, i), trials[i].seed,
                                              trials[i].metrics["test_accuracy"]))
               for i in (0, 1)]
    expected = mcnemar_exact(*correct)
    assert f"{expected.only_a + expected.only_b} discordant" in res.output
    assert str(expected.both) in res.output
    missing = ablate("compare", "three", "--trials", "0", "99", "--storage", storage_url)
    assert missing.exit_code == 2 and "no trial 99" in missing.output


def _config(url: str, i: int):
    import json

    from ablation.config.trainconfig import TrainConfig

    return TrainConfig(**json.loads(db.runs(open_store(url).engine, "three")[i]["config"]))


def test_a_run_that_would_start_a_new_variant_beside_a_stored_one_says_so(study, storage_url):
    common = ("--trainer", "tests.fakes:noisy_fit", "--storage", storage_url)
    first = ablate("run", str(study), "--epochs", "2", "--seeds", "1", *common)
    assert first.exit_code == 0 and "note:" not in first.output
    other = ablate("run", str(study), "--seeds", "2", *common)
    assert "note: three is a new study; stored beside it: three[epochs=2] (3 trials)" in " ".join(
        other.output.split())
    same = ablate("run", str(study), "--epochs", "2", "--seeds", "2", *common)
    assert "note:" not in same.output and "3 trial(s) run now, 3 done before" in same.output


@pytest.mark.parametrize("server", ["pg_url", "mysql_url"])
def test_predictions_and_looks_are_stored_on_postgresql_and_mysql(study, server, request):
    url = request.getfixturevalue(server)
    res = ablate("run", str(study), "--trainer", "tests.fakes:sleep_fit", "--until-resolved",
                 "--max-seeds", "5", "--storage", url)
    assert res.exit_code == 0, res.output
    store = open_store(url)
    looks = evidence.looks(store.engine, "three")
    assert {r["label"] for r in looks} == {"sgd", "adam"}
    # sleep_fit's differences have no spread, which decides nothing: every cell gets 5 seeds
    assert {r["outcome"] for r in looks} == {"continue", "inconclusive"}
    stored = evidence.predictions(store.engine, "three")
    assert len(stored) == 15
    digest, blob = stored[0]
    labels = evidence.stored_labels(store.engine, digest)
    assert labels is not None and len(blob) < 1500  # 1,000 made-up labels, compressed
    shown = ablate("compare", "three", "--trials", "0", "1", "--storage", url)
    assert shown.exit_code == 0 and "discordant" in shown.output


def test_until_resolved_shows_each_round_once_writes_one_summary_and_the_note(study, tmp_path,
                                                                              storage_url):
    from optuna_dashboard import get_note

    res = ablate("run", str(study), "--trainer", "tests.fakes:noisy_fit", "--until-resolved",
                 "--max-seeds", "5", "--storage", storage_url)
    assert res.exit_code == 0, res.output
    # look 1: 9 trials on 3 seeds; round 2 adds 2 seeds to adam and the baseline only
    assert res.output.count("three: 9 trials (3 seeds), 0 already done") == 1
    assert res.output.count("three: 13 trials (5 seeds), 9 already done") == 1
    assert "[1/4] trial 9" in res.output and "/0]" not in res.output
    assert res.output.count("study three:") == 1
    assert "study three: 13 trial(s) run now, 0 done before, 0 left of 13" in res.output
    note = get_note(optuna.load_study(study_name="three", storage=storage_url))
    assert "Written by ablate" in note and "| adam | 5 |" in note
