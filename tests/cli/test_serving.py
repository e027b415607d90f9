"""`ablate dashboard` serves read-only, and beyond loopback only when told to."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import optuna
import pytest

from ablation.cli.serving import is_loopback, read_only
from ablation.engine.trials.worker import RunOptions, run_study
from ablation.errors import UserError
from tests.fakes import FakeFit, free_port, get_json, make_spec


def test_loopback_is_recognised():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("::")
    with pytest.raises(UserError, match="not an address"):
        is_loopback("nosuchhost.invalid")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_every_writing_request_is_refused(method):
    called = []

    def app(environ, start_response):
        called.append(environ["REQUEST_METHOD"])
        start_response("200 OK", [])
        return [b"ok"]

    statuses = []
    body = read_only(app)({"REQUEST_METHOD": method}, lambda s, h: statuses.append(s))
    assert statuses == ["403 Forbidden"] and called == []
    assert "read-only" in json.loads(b"".join(body))["reason"]
    assert list(read_only(app)({"REQUEST_METHOD": "GET"}, lambda s, h: None)) == [b"ok"]


def test_remote_dashboard_warns_and_refuses_to_delete_a_study(tmp_path, storage_url):
    run_study(make_spec(seeds=1), RunOptions(storage_url, tmp_path / "artifacts", tmp_path),
              FakeFit())
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ablation", "dashboard", "--storage",
                             storage_url, "--port", str(port), "--host", "0.0.0.0",
                             "--allow-remote"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        studies = get_json(f"{base}/api/studies", time.monotonic() + 60)["study_summaries"]
        request = urllib.request.Request(f"{base}/api/studies/{studies[0]['study_id']}",
                                         method="DELETE")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 403
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    assert "without authentication" in out and "read-only" in out, out
    assert [s.study_name for s in optuna.get_all_study_summaries(storage_url)] == ["opt"]
