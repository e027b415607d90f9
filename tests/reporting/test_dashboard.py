"""`ablate dashboard` serves the study database over HTTP (optuna-dashboard)."""

import subprocess
import sys
import time

from ablation.engine.trials.worker import RunOptions, run_study
from tests.fakes import FakeFit, free_port, get_json, make_spec


def test_dashboard_serves_the_studys_trials(tmp_path, storage_url):
    run_study(make_spec(seeds=1), RunOptions(storage_url, tmp_path / "artifacts", tmp_path),
              FakeFit())
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ablation", "dashboard", "--storage",
                             storage_url, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        studies = get_json(f"{base}/api/studies", time.monotonic() + 60)["study_summaries"]
        assert [s["study_name"] for s in studies] == ["opt"]
        detail = get_json(f"{base}/api/studies/{studies[0]['study_id']}?after=0",
                          time.monotonic() + 10)
        assert len(detail["trials"]) == 3
        assert all(t["intermediate_values"] for t in detail["trials"])
        for t in detail["trials"]:  # final weights and the confusion matrix attached
            assert sorted(a["mimetype"] for a in t["artifacts"]) == ["application/json",
                                                                     "application/octet-stream"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
