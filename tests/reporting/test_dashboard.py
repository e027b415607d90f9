"""`ablate dashboard` serves the study database over HTTP (optuna-dashboard)."""

import json
import socket
import subprocess
import sys
import time
import urllib.request

from ablation.engine.trials.worker import RunOptions, run_study
from tests.helpers import FakeFit, make_spec


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, deadline: float):
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return json.loads(r.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


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
