"""The SLURM and Kubernetes recipes in docs/clusters/ are syntactically valid and their
``ablate worker`` lines parse with the real command (SLURM itself cannot run here)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ablation.cli.running import worker

RECIPES = Path(__file__).resolve().parents[1] / "docs" / "clusters"
# What the script's variables hold when SLURM runs it (values as a user would give them).
SLURM_VARS = {"STUDY": "optimizers", "DATASET": "mnist", "SEEDS": "5",
              "ARTIFACTS": "/shared/ablate/artifacts", "DATA_DIR": "/shared/datasets",
              "OMP_NUM_THREADS": "4"}


def _parses_as_worker(args: list[str]) -> dict:
    ctx = worker.make_context("worker", list(args))  # raises on an unknown option or bad value
    return ctx.params


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_sbatch_script_is_valid_bash_with_requeue_and_one_gpu_per_task():
    script = RECIPES / "ablate-array.sbatch"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    directives = re.findall(r"^#SBATCH (\S+)", text, flags=re.M)
    assert "--requeue" in directives and "--gres=gpu:1" in directives
    assert any(d.startswith("--array=") for d in directives)


def test_sbatch_worker_line_parses_with_the_real_command():
    text = (RECIPES / "ablate-array.sbatch").read_text().replace("\\\n", " ")
    line = next(ln for ln in text.splitlines() if "ablate worker" in ln and not ln.startswith("#"))
    for name, value in SLURM_VARS.items():
        line = line.replace(f'"${name}"', value)
    words = shlex.split(line)
    args = words[words.index("ablate") + 2:]
    params = _parses_as_worker(args)
    assert params["study"] == "optimizers" and params["heartbeat_grace"] == 120
    assert params["threads"] == 4 and str(params["artifacts"]) == "/shared/ablate/artifacts"


def test_kubernetes_job_runs_parallel_workers_whose_command_parses():
    job = yaml.safe_load((RECIPES / "ablate-job.yaml").read_text())
    assert job["kind"] == "Job" and job["spec"]["parallelism"] >= 2
    assert "completions" not in job["spec"]  # a work-queue Job: done when a worker exits 0
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["command"][:2] == ["ablate", "worker"]
    params = _parses_as_worker(container["command"][2:])
    assert params["artifacts"] == "s3://ablate-runs/optimizers"  # a bucket stays a URL
    assert {e["name"] for e in container["env"]} >= {"ABLATE_STORAGE"}
