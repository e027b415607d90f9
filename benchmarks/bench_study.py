"""The study as the unit of speed: the README's quick start, timed and measured from outside.

Runs ``ablate run optimizers --dataset digits`` (the README's command, fresh storage) as a
subprocess and reports its wall time, the sum of its trials' training seconds, the overhead
ratio wall / (training seconds / cores) (1.0: nothing but training, every core busy), database
commits per trial (counted in every process of the run by an SQLAlchemy listener that a
``sitecustomize`` module installs), and memory per worker process (the largest RSS and PSS
read from /proc while it ran; PSS shares each shared page among the processes that map it), with
the machine and its load. ``python benchmarks/bench_study.py [--runs 2] [-- EXTRA RUN ARGS]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QUICK_START = ("run", "optimizers", "--dataset", "digits")

# Installed in every Python process of the measured run (the run and its spawned workers): it
# counts commits on any SQLAlchemy engine and keeps the count in COUNT_DIR/<pid> (rewritten at
# each commit, so a worker that ends by os._exit still leaves its count).
SITECUSTOMIZE = '''
import os
_dir = os.environ.get("ABLATE_BENCH_COMMITS")
if _dir:
    import sqlalchemy as _sa

    _n = [0]

    def _count(_conn):
        _n[0] += 1
        with open(os.path.join(_dir, str(os.getpid())), "w") as f:
            f.write(str(_n[0]))

    _sa.event.listen(_sa.engine.Engine, "commit", _count)
'''


@dataclass
class Memory:
    """Largest resident, proportional and unique set sizes seen of each process (MB), by pid.

    USS (pages no other process maps) is what one more worker adds; PSS shares the rest.
    """

    rss: dict[int, float] = field(default_factory=dict)
    pss: dict[int, float] = field(default_factory=dict)
    uss: dict[int, float] = field(default_factory=dict)
    total_pss: float = 0.0  # the largest sum of PSS over the run's processes at one moment


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (read from /proc)."""
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for kid in kids.get(todo.pop(), []):
            out.append(kid)
            todo.append(kid)
    return out


def rollup(pid: int) -> tuple[float, float, float] | None:
    """(RSS, PSS, USS) of ``pid`` in MB from /proc/PID/smaps_rollup; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    kb = {line.split()[0].rstrip(":"): int(line.split()[1]) for line in text.splitlines()[1:]
          if len(line.split()) >= 2 and line.split()[1].isdigit()}
    uss = kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)
    return kb.get("Rss", 0) / 1024, kb.get("Pss", 0) / 1024, uss / 1024


def sample(memory: Memory, pids: list[int]) -> None:
    """Add one reading of ``pids`` to ``memory``."""
    total = 0.0
    for pid in pids:
        got = rollup(pid)
        if got is None:
            continue
        memory.rss[pid] = max(memory.rss.get(pid, 0.0), got[0])
        memory.pss[pid] = max(memory.pss.get(pid, 0.0), got[1])
        memory.uss[pid] = max(memory.uss.get(pid, 0.0), got[2])
        total += got[1]
    memory.total_pss = max(memory.total_pss, total)


@dataclass
class StudyRun:
    """What one measured run of the quick start gave."""

    wall: float
    train_seconds: list[float]
    commits: int
    memory: Memory
    first_line: str
    workers: list[int]  # the run's other processes (workers, fork server, resource tracker)
    returncode: int
    study: str = ""  # the name the run stored the study under (its last lines say)
    pid: int = 0  # the command's own process

    def ratio(self, cores: int) -> float:
        """wall / (training seconds / cores): 1.0 is a study that is nothing but training."""
        return self.wall / (sum(self.train_seconds) / cores)


def trial_seconds(storage: str, name: str) -> list[float]:
    """Training seconds of every complete trial of study ``name``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=storage)
    return [float(t.user_attrs["train_seconds"]) for t in study.trials
            if t.state == optuna.trial.TrialState.COMPLETE]


def commits_in(folder: Path) -> int:
    """Commits counted by every process of the run."""
    return sum(int(p.read_text() or 0) for p in folder.iterdir())


def measure(args: list[str], folder: Path, poll: float = 0.5) -> StudyRun:
    """Run ``ablate ARGS`` in ``folder`` (its storage, counts, sitecustomize) and measure it."""
    counts = folder / "commits"
    counts.mkdir()
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**os.environ, "ABLATE_BENCH_COMMITS": str(counts),
           "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT),
                                          os.environ.get("PYTHONPATH", "")])}
    memory, done = Memory(), threading.Event()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "ablation", *args], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def watch() -> None:
        while not done.wait(poll):
            sample(memory, [proc.pid, *children(proc.pid)])

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, _ = proc.communicate()
    wall = time.perf_counter() - t0
    done.set()
    watcher.join()
    (folder / "output.txt").write_text(out)
    lines = out.splitlines()
    others = [p for p in memory.pss if p != proc.pid]
    run = StudyRun(wall, [], commits_in(counts), memory, lines[0] if lines else "", others,
                   proc.returncode, pid=proc.pid)
    run.study = next((line.split(" as ", 1)[1].rstrip(".").strip("'") for line in lines
                      if line.startswith("Stored in ") and " as " in line), "")
    return run


def run_quick_start(extra: list[str], folder: Path) -> StudyRun:
    """The README's quick start with fresh storage in ``folder``, plus ``extra`` arguments."""
    storage = f"sqlite:///{folder / 'ablate.db'}"
    run = measure([*QUICK_START, "--storage", storage, *extra], folder)
    if run.returncode == 0 and run.study:
        run.train_seconds = trial_seconds(storage, run.study)
    return run


def report(run: StudyRun, cores: int) -> list[str]:
    """The figures of one run as Markdown list items."""
    trials = len(run.train_seconds)
    m = run.memory

    def sizes(pid: int) -> str:
        return f"{m.rss[pid]:.0f} / {m.pss[pid]:.0f} / {m.uss[pid]:.0f}"

    others = ", ".join(sizes(p) for p in run.workers if p in m.rss) or "none"
    lines = [f"first line: `{run.first_line}`",
             f"wall time: **{run.wall:.1f} s**; exit status {run.returncode}",
             f"trials: {trials}; training seconds, sum: {sum(run.train_seconds):.1f} s "
             f"(median trial {sorted(run.train_seconds)[trials // 2] if trials else 0:.1f} s)"]
    if trials:
        lines += [f"overhead ratio wall / (training s / {cores} cores): "
                  f"**{run.ratio(cores):.2f}** (target <= 1.2)",
                  f"database commits: {run.commits}, **{run.commits / trials:.1f} per trial**"]
    lines += [f"memory, largest RSS / PSS / USS (MB): the command "
              f"{sizes(run.pid) if run.pid in m.rss else '-'}; its other processes (workers, "
              f"fork server, resource tracker) {others}",
              f"all processes of the run together, largest PSS at one moment: "
              f"{run.memory.total_pss:.0f} MB"]
    return lines


def machine_lines() -> list[str]:
    """The machine, as bench_speed names it, and the date."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script
    from benchmarks._common import hardware, loadavg

    return [f"date (UTC): {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}",
            f"machine: {platform.machine()}, load average {loadavg()}",
            *hardware(1)]


def main() -> None:
    """Measure the quick start ``--runs`` times and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--keep", type=Path, default=None,
                   help="keep each run's folder (database, printed output.txt) under KEEP/run-N")
    p.add_argument("extra", nargs="*", help="more arguments for `ablate run` (after --)")
    args = p.parse_args()
    from ablation.engine.trials.preflight import cores

    have = cores()
    print("- command: `python " + " ".join(sys.argv) + "`")
    for line in machine_lines():
        print(f"- {line}")
    for i in range(args.runs):
        if args.keep is not None:
            kept = args.keep / f"run-{i + 1}"
            kept.mkdir(parents=True)  # an existing run folder is never overwritten
            run = run_quick_start(args.extra, kept)
        else:
            with tempfile.TemporaryDirectory(prefix="bench-study-") as tmp:
                run = run_quick_start(args.extra, Path(tmp))
        print(f"- run {i + 1} (`ablate {' '.join([*QUICK_START, *args.extra])}`):")
        for line in report(run, have):
            print(f"  - {line}")
        print(f"  - load average after: {machine_lines()[1].split('average ')[1]}", flush=True)


if __name__ == "__main__":
    main()
