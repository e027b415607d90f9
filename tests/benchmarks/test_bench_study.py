"""benchmarks/bench_study.py, piece by piece on a tiny study: commits counted in every process,
memory read from /proc, the study found and its training seconds summed, the figures worded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.bench_study import (
    Memory,
    StudyRun,
    children,
    measure,
    report,
    rollup,
    trial_seconds,
)

STUDY = """
[study]
name = "tiny"
seeds = 1
[baseline]
dataset = "digits"
model = "resnet-lite"
width = 4
epochs = 2
train_limit = 64
[axes.optimizer]
choices = ["sgd", "adam"]
"""


def test_a_run_is_measured_from_outside(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(STUDY)
    storage = f"sqlite:///{tmp_path / 'b.db'}"
    run = measure(["run", str(tmp_path / "tiny.toml"), "--storage", storage,
                   "--trainer", "tests.fakes:sleep_fit"], tmp_path, poll=0.05)
    assert run.returncode == 0 and run.study == "tiny"
    assert run.wall > 0 and run.memory.rss[next(iter(run.memory.rss))] > 10
    # 3 trials (2 choices + the baseline), each at least one commit of its own
    assert len(trial_seconds(storage, run.study)) == 3
    assert run.commits >= 3 * 10
    assert "Stored in " in (tmp_path / "output.txt").read_text()  # what --keep keeps


def test_children_and_rollup_read_proc() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
    try:
        assert child.pid in children(os.getpid())
        rss, pss, uss = rollup(child.pid) or (0.0, 0.0, 0.0)
        assert rss >= pss >= uss > 0
    finally:
        child.kill()
        child.wait()
    assert rollup(child.pid) is None


def test_the_report_states_ratio_commits_and_memory() -> None:
    memory = Memory(rss={1: 50.0, 7: 800.0, 8: 700.0}, pss={1: 30.0, 7: 400.0, 8: 350.0},
                    uss={1: 20.0, 7: 300.0, 8: 250.0}, total_pss=790.0)
    run = StudyRun(60.0, [10.0] * 10, 250, memory, "--workers auto: 2 worker processes", [7, 8],
                   0, pid=1)
    lines = report(run, 2)
    assert "**1.20** (target <= 1.2)" in lines[3]  # 60 / (100 / 2)
    assert "**25.0 per trial**" in lines[4]
    assert "the command 50 / 30 / 20;" in lines[5]
    assert "800 / 400 / 300, 700 / 350 / 250" in lines[5] and "790 MB" in lines[6]
