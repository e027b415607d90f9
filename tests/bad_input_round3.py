"""The rows of tests/test_bad_input.py added for issue #21 (faults round 3), and the faults of
that issue tested elsewhere (they need a worker paused, a trainer, or an output compared), listed
with their tests so docs/bad-input.md names every one."""

from __future__ import annotations

from pathlib import Path

from tests.bad_input_cases import Case

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


ROUND3_CASES: list[Case] = [
    Case("study file", "factorial pairing swa_epochs 2 with epochs 1", S, 2,
         "combine epochs = 1 with swa_epochs = 2: swa_epochs (2) must not exceed epochs (1)",
         _write("s.toml", _FACTORIAL_SWA)),
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
]
