"""benchmarks/bench_speed.py: the hardware it names, the targets it checks, its GPU mode's stop."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks._common import SPEED_FLAGS, Curve, hardware
from benchmarks.bench_speed import ArmResult, render, targets, write_section
from benchmarks.speed_cuda import no_cuda_message, study_command

ROOT = Path(__file__).resolve().parents[2]
PEAKS = {"fp32": 200.0, "bf16": 1000.0}


def _arm(name: str, seconds: list[float], acc: list[float], precision: str,
         flops: float = 1e7, images: int = 20_000) -> ArmResult:
    return ArmResult(name, [Curve(seconds, acc, params=10)], flops, images, 900.0, precision)


def test_the_hardware_lines_name_cpu_flags_threads_and_gpu() -> None:
    lines = hardware(2)
    assert lines[0].startswith("CPU: ") and all(f"{f} " in lines[0] for f in SPEED_FLAGS)
    assert "2 intra-op threads" in lines[1] and "resolves to" in lines[1]
    assert lines[-1].startswith("GPU")


def test_targets_are_checked_against_the_run_s_own_figures() -> None:
    ref = _arm("ref", [20.0, 40.0], [0.98, 0.985], "fp32", flops=7e7)
    fast = _arm("fast", [3.0, 6.0], [0.991, 0.994], "bf16")   # 6.7x per epoch; 99.0% at 3 s
    slow = _arm("slow", [4.0, 8.0], [0.95, 0.991], "fp32")
    lines = targets([ref, fast, slow], PEAKS)
    assert lines[0].endswith("6.67x ('fast') -> met")
    assert "99.0% in <= 5 s (slowest seed): 3.0 s ('fast') -> met" in lines[1]
    assert "99.3% in <= 30 s (slowest seed): 6.0 s ('fast') -> met" in lines[2]
    # fast: 1e7 * 2e4 / 3 s = 66.7 GFLOP/s = 7% of bf16's 1000; slow: 50/200 = 25% of fp32's
    assert lines[3].endswith("best arm 25% -> not met")
    missed = targets([ref, _arm("x", [10.0], [0.99], "bf16")], PEAKS)
    assert missed[0].endswith("-> not met") and missed[1].endswith("10.0 s ('x') -> not met")
    assert "no arm reached it" in missed[2]


def test_render_labels_every_arm_with_its_precision_and_peak() -> None:
    ref = _arm("ref", [20.0], [0.98], "fp32", flops=7e7)
    ours = _arm("ours", [2.0], [0.99], "bf16")
    meta = {"command": "c", "date": "d", "machine": "m", "threads": "2", "load_before": "1",
            "load_after": "2", "hardware": "CPU: X\nGPU: none"}
    text = render([ref, ours], PEAKS, meta)
    assert "| precision, device (as run) | fp32, cpu | bf16, cpu |" in text
    assert "| 35% of 200 | 10% of 1000 |" in text  # 70 GFLOP/s of fp32, 100 of bf16
    assert "- CPU: X\n- GPU: none\n" in text


def test_write_section_replaces_only_its_own_block(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- a -->\nold\n<!-- b -->\ntail\n")
    write_section(page, "new\n", "<!-- a -->", "<!-- b -->")
    assert page.read_text() == "intro\n<!-- a -->\nnew\n<!-- b -->\ntail\n"


def test_device_cuda_without_a_gpu_exits_2_with_one_line() -> None:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run([sys.executable, "benchmarks/bench_speed.py", "--device", "cuda"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --device cuda: ")
    assert "no CUDA GPU" in lines[0] and out.stdout == ""


def test_no_cuda_message_names_the_torch_build(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert torch.__version__ in (no_cuda_message() or "")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert no_cuda_message() is None


def test_the_study_command_runs_the_optimizer_study_on_the_device(tmp_path: Path) -> None:
    cmd = study_command("sqlite:///x.db", tmp_path, "cuda:1")
    assert cmd[1:5] == ["-m", "ablation", "run", "optimizers"]
    assert cmd[cmd.index("--device") + 1] == "cuda:1"
    assert cmd[cmd.index("--dataset") + 1] == "mnist"


def test_the_test_curve_follows_fit_on_its_device_and_names_the_precision_it_ran(
        tmp_path: Path) -> None:
    from ablation.config.trainconfig import TrainConfig
    from benchmarks._common import fit_with_test_curve

    config = TrainConfig(dataset="digits", epochs=2, precision="fp32")
    curve = fit_with_test_curve(config, 0, tmp_path, device="cpu")
    assert curve.precision == "fp32" and len(curve.test_acc) == 2
    # The curve's last point is the test accuracy fit itself measures (within two images).
    from ablation.training.fit import fit

    result = fit(config, 0, data_dir=tmp_path)
    assert abs(curve.test_acc[-1] - result.metrics.test_accuracy) <= 2 / len(result.labels)
