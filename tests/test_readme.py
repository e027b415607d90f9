"""The README's commands work as written, in the README's order, on a fresh storage folder.

Every command of the README's "Use" block runs (in this process, through click's runner; the
``--workers 2`` line starts real worker processes), except those that name a
placeholder (a study file, a Kaggle CSV or a database host the reader supplies) and the
dashboard (a server; tests/reporting/test_dashboard.py starts it). Commands that train get
``--trainer tests.fakes:untrained_fit`` (the real models, untrained, with made-up metrics) so the
whole sequence takes seconds; everything else about them is as the README writes it.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from ablation.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PLACEHOLDERS = ("my-study.toml", "kaggle-study", "u:pw@host")
TRAINING = ("run", "worker", "cross-eval")


def readme_commands() -> list[list[str]]:
    """The argument lists of the ``ablate`` lines of the README's "Use" block."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Use", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    out = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == "ablate":
            out.append(words[1:])
    return out


def runnable(args: list[str]) -> bool:
    """Whether a README command runs here as written (no placeholder, no server)."""
    return args[0] != "dashboard" and not any(p in a for a in args for p in PLACEHOLDERS)


def test_the_readme_lists_the_main_commands() -> None:
    commands = {args[0] for args in readme_commands()}
    assert {"run", "show", "export", "report", "studies", "validate", "cross-eval",
            "dashboard", "worker", "models", "datasets"} <= commands


def test_readme_commands_run_in_order_on_fresh_storage(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    if not (SHARED / "datasets" / "mnist").is_dir():
        pytest.skip("the README's MNIST lines read ../shared/datasets/mnist, absent here")
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "shared").symlink_to(SHARED)  # so ../shared/... resolves as beside the repo
    monkeypatch.chdir(work)
    monkeypatch.delenv("ABLATE_STORAGE", raising=False)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # worker processes import tests.fakes
    ran = []
    for args in filter(runnable, readme_commands()):
        if args[0] in TRAINING:
            args = [*args, "--trainer", "tests.fakes:untrained_fit"]
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 0 and res.exception is None, (
            f"ablate {shlex.join(args)}\n{res.output}")
        ran.append(args[0])
    assert (work / "storage" / "ablate.db").is_file()
    for name in ("t.csv", "t.md", "t.tex", "report.html"):
        assert (work / name).stat().st_size > 0
    assert ran.count("show") == 3 and "cross-eval" in ran
