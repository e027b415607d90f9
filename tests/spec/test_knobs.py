"""Knobs a component ignores are refused: a model's (ModelInfo.uses) and an optimizer's
(OptimizerSpec.uses), so a study never trains identical models and calls them a finding."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from ablation.cli import main
from ablation.training.optim import OPTIMIZERS, make_optimizer

ROOT = Path(__file__).resolve().parents[2]
ADAM_MOMENTUM = ('[study]\nname = "m"\n[baseline]\noptimizer = "adam"\n'
                 "[axes.momentum]\nchoices = [0.5, 0.9]\n")


def test_validate_refuses_a_momentum_axis_for_adam_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(ADAM_MOMENTUM)
    res = CliRunner().invoke(main, ["validate", str(path)])
    assert res.exit_code == 2
    assert "axes.momentum: optimizer 'adam' does not read momentum" in res.output
    assert res.output.count("\n") == 1


def test_validate_refuses_it_as_a_real_process_too(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(ADAM_MOMENTUM)
    out = subprocess.run([sys.executable, "-m", "ablation", "validate", str(path)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "optimizer 'adam' does not read momentum" in out.stderr
    assert "Traceback" not in out.stderr


def test_momentum_is_accepted_for_sgd_and_in_a_factorial_study_only_with_sgd(tmp_path: Path
                                                                            ) -> None:
    ok = tmp_path / "ok.toml"
    ok.write_text('[study]\nname = "m"\n[baseline]\noptimizer = "sgd"\n'
                  "[axes.momentum]\nchoices = [0.5, 0.9]\n")
    assert CliRunner().invoke(main, ["validate", str(ok)]).exit_code == 0
    mixed = tmp_path / "mixed.toml"
    mixed.write_text('[study]\nname = "m"\nmode = "factorial"\n[baseline]\noptimizer = "sgd"\n'
                     '[axes.optimizer]\nchoices = ["sgd", "nadam"]\n'
                     "[axes.momentum]\nchoices = [0.5, 0.9]\n")
    res = CliRunner().invoke(main, ["validate", str(mixed)])
    assert res.exit_code == 2 and "optimizer 'nadam' does not read momentum" in res.output


def test_a_baseline_momentum_the_optimizer_ignores_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "b.toml"
    path.write_text('[study]\nname = "m"\n[baseline]\noptimizer = "adam"\nmomentum = 0.5\n'
                    '[axes.lr]\nchoices = [0.001, 0.01]\n')
    res = CliRunner().invoke(main, ["validate", str(path)])
    assert res.exit_code == 2 and "baseline.momentum = 0.5: optimizer 'adam'" in res.output


def _after_steps(name: str, momentum: float) -> torch.Tensor:
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(4))
    opt = make_optimizer(name, [w], lr=0.1, momentum=momentum)
    for _ in range(3):
        opt.zero_grad()
        ((w - 1.0) ** 2).sum().backward()
        opt.step()
    return w.detach().clone()


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_an_optimizer_reads_momentum_exactly_when_its_entry_says_so(name: str) -> None:
    moved = not torch.equal(_after_steps(name, 0.0), _after_steps(name, 0.5))
    assert moved == ("momentum" in OPTIMIZERS.get(name).uses)
