"""The rows of tests/test_bad_input.py added for issue #21 (faults round 3), and the faults of
that issue tested elsewhere (they need a worker paused, a trainer, or an output compared), listed
with their tests so docs/bad-input.md names every one."""

from __future__ import annotations

import json
import sqlite3
import struct
import zipfile
from pathlib import Path

import optuna
import pytest

from tests.bad_input_cases import PREDICT, Case, _kaggle, _weights_file
from tests.fakes import _kaggle_csv

S = ("run", "{tmp}/s.toml", "--storage", "{new}")

_FACTORIAL_SWA = """
[study]
name = "fact"
seeds = 1
mode = "factorial"
[baseline]
dataset = "digits"
model = "resnet-lite"
width = 4
epochs = 2
train_limit = 100
[axes.epochs]
choices = [1, 2]
[axes.swa_epochs]
choices = [0, 2]
"""


def _write(name: str, text: str):
    def setup(tmp: Path) -> None:
        (tmp / name).write_text(text)
    return setup


def _set_weights_id(tmp: Path, value: str) -> None:
    conn = sqlite3.connect(tmp / "done.db")
    conn.execute("PRAGMA journal_mode=delete")
    conn.execute("UPDATE trial_user_attributes SET value_json = ? WHERE key = 'weights_artifact' "
                 "AND trial_id = (SELECT MIN(trial_id) FROM trials)", (json.dumps(value),))
    conn.commit()
    conn.close()


def _tampered_id(tmp: Path) -> None:
    _kaggle(tmp)
    _kaggle_csv(tmp / "test.csv", 5, False)
    _set_weights_id(tmp, "../../../etc/passwd")


def _flipped_tensor(tmp: Path) -> None:
    """One byte of one stored tensor changed: the file still loads as a state dict."""
    _kaggle(tmp)
    _kaggle_csv(tmp / "test.csv", 5, False)
    path = _weights_file(tmp)
    with zipfile.ZipFile(path) as z:
        info = next(i for i in z.infolist() if "/data/" in i.filename and i.file_size >= 16)
    blob = bytearray(path.read_bytes())
    # the local header: 30 bytes, the name, the extra field; then the tensor's bytes
    name_len, extra_len = struct.unpack("<HH", blob[info.header_offset + 26:
                                                     info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    blob[start + 8] ^= 0x40
    path.write_bytes(bytes(blob))


def _replaced_weights(tmp: Path) -> None:
    """Another model's weights under the trial's artifact id: a whole file swapped."""
    import torch

    _kaggle(tmp)
    _kaggle_csv(tmp / "test.csv", 5, False)
    torch.save(torch.nn.Linear(3, 2).state_dict(), _weights_file(tmp))


def make_plain_study(url: str) -> None:
    """A study Optuna alone wrote (no ablate tables): 3 trials of a toy objective."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="plain", storage=url)
    study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2, n_trials=3)


def _plain(tmp: Path) -> None:
    make_plain_study(f"sqlite:///{tmp / 'plain.db'}")


PLAIN = "is a plain Optuna study (ablate did not run it"
ON_PLAIN = ("--storage", "sqlite:///{tmp}/plain.db")


ROUND3_CASES: list[Case] = [
    Case("study file", "factorial pairing swa_epochs 2 with epochs 1", S, 2,
         "combine epochs = 1 with swa_epochs = 2: swa_epochs (2) must not exceed epochs (1)",
         _write("s.toml", _FACTORIAL_SWA)),
    Case("CLI", "validate with run's overrides: unknown --dataset",
         ("validate", "optimizers", "--dataset", "nosuch"), 2, "unknown dataset 'nosuch'"),
    Case("artifact", "predict with a tampered weights artifact id", PREDICT, 2,
         "is not an artifact id", _tampered_id, same=("done.db",)),
    Case("artifact", "predict with one byte of a stored tensor changed", PREDICT, 2,
         "fail their SHA-256 checksum", _flipped_tensor, same=("done.db",)),
    Case("artifact", "predict with the weights file swapped for another model's", PREDICT, 2,
         "fail their SHA-256 checksum", _replaced_weights, same=("done.db",)),
    Case("storage", "show a plain Optuna study (SQLite)", ("show", "plain", *ON_PLAIN), 2,
         "study 'plain' in sqlite:///{tmp}/plain.db " + PLAIN, _plain,
         same=("plain.db",)),
    Case("storage", "report on a plain Optuna study", ("report", "plain", "-o", "{tmp}/r.html",
         *ON_PLAIN), 2, PLAIN, _plain, same=("plain.db",),
         after=lambda t: (t / "r.html").exists() and pytest.fail("wrote a report")),
    Case("storage", "export a plain Optuna study", ("export", "plain", "--csv", "{tmp}/o.csv",
         *ON_PLAIN), 2, PLAIN, _plain, same=("plain.db",),
         after=lambda t: (t / "o.csv").exists() and pytest.fail("wrote a CSV")),
]

# (kind, fault, what ablate does now, the test that shows it)
ROUND3_FAULTS: list[tuple[str, str, str, str]] = [
    ("engine", "the first trial (number 0) fails for good",
     "its reason is shown (it read `trial_number or -1`: 0 was taken for no trial)",
     "tests/engine/test_faults_round3.py::test_the_reason_of_trial_0_is_kept"),
    ("engine", "a trial whose heartbeat went stale",
     "is failed with the reason \"worker lost: its heartbeat stopped ...\"",
     "tests/engine/test_faults_round3.py::"
     "test_a_trial_failed_by_its_stale_heartbeat_carries_a_reason"),
    ("worker", "a worker paused (SIGSTOP) past the grace period, then resumed (SIGCONT)",
     "one line \"taken over: ...; this result is dropped\", the point left to the worker that "
     "took it, then it goes on (exit 0; it died with two tracebacks)",
     "tests/engine/test_faults_round3.py::"
     "test_a_worker_whose_trial_was_taken_over_says_so_and_goes_on (and, slow, "
     "test_sigstop_past_the_grace_period_then_sigcont_ends_cleanly)"),
    ("storage", "show, report or export a plain Optuna study on PostgreSQL (no ablate_ tables)",
     "one line naming the study and the storage, exit 2, nothing written (it printed a "
     "traceback: relation \"ablate_points\" does not exist; export wrote a meaningless row)",
     "tests/test_plain_optuna.py::test_a_plain_optuna_study_on_postgresql_is_one_line"),
    ("outputs", "a top-up (`--seeds 7` after 3)",
     "the stored study record lists seeds 0..6 (it kept [0, 1, 2])",
     "tests/engine/test_faults_round3.py::test_the_stored_spec_follows_a_top_up"),
    ("outputs", "the progress line of a compressed trial",
     "shows the artifact's test accuracy and size, the accuracy before compression beside them "
     "(it showed only the accuracy before compression)",
     "tests/reporting/test_progress_round3.py::"
     "test_a_compressed_state_puts_the_artifact_figures_first (and, slow, "
     "test_a_compressed_trial_line_shows_the_artifact_figures)"),
    ("outputs", "a long trial logged to a file (stdout not a terminal)",
     "an epoch line every 30 s or every epoch, whichever is rarer (it printed nothing until "
     "the trial ended)",
     "tests/reporting/test_progress_round3.py::"
     "test_a_log_gets_an_epoch_line_every_30_s_or_every_epoch_whichever_is_rarer"),
    ("outputs", "a baseline at chance level (digits, 1 epoch)",
     "one warning line above the table: the baseline is within 10 points of chance (the "
     "largest class's share), the verdicts compare untrained models (it said nothing)",
     "tests/reporting/test_outputs_round3.py::"
     "test_show_of_an_untrained_study_warns_once_above_the_table"),
    ("outputs", "`export NAME` of a sampled search with a confirm stage",
     "exports the confirm stage, as `show NAME` shows it, and says so on stderr (it exported "
     "the search stage); `--search-stage` on either reads the search itself",
     "tests/reporting/test_outputs_round3.py::test_export_name_exports_what_show_name_shows"),
    ("outputs", "the table of a search stage (one seed per trial)",
     "its trials best first, no ranks, verdicts or p-values, and a note pointing to the "
     "confirmed table (it ranked every trial 1 with \"Holm over 0 comparisons\")",
     "tests/reporting/test_outputs_round3.py::"
     "test_a_search_stage_table_ranks_nothing_and_points_to_the_confirmed_table"),
    ("study file", "`ablate run compression --dataset digits --epochs 2` (its swa_epochs axis "
     "is 3; `run compression --dry-run` too)",
     "runs, and says \"--epochs 2: lowered what may not exceed the epochs: axes.swa_epochs "
     "[3] -> [2]\" (it was refused); `validate` takes the same overrides and says the same",
     "tests/spec/test_epochs_round3.py"),
]
