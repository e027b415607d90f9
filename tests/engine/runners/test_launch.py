"""How CPU workers start (engine/runners/launch.py): forked from a server that preloaded what
every worker imports, started early enough to overlap the command's own start."""

from __future__ import annotations

import importlib
import multiprocessing
import os
import subprocess
import sys

import pytest

from ablation.engine.runners.launch import END_OF_RUN, PRELOAD

needs_forkserver = pytest.mark.skipif(
    "forkserver" not in multiprocessing.get_all_start_methods(), reason="no forkserver here")


@pytest.mark.parametrize("name", PRELOAD + END_OF_RUN)
def test_every_preloaded_module_imports(name):
    # the server (and the command's warm-up thread) skip a module that fails to import: a typo
    # here would silently cost every worker, or the end of every run, its import time again
    assert importlib.import_module(name) is not None


@needs_forkserver
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one core: no early server")
def test_the_server_starts_before_any_worker_with_the_preload_list():
    code = ("from multiprocessing import forkserver\n"
            "from ablation.engine.runners.launch import PRELOAD, start_fork_server\n"
            "start_fork_server()\n"
            "fs = forkserver._forkserver\n"
            "assert fs._forkserver_pid is not None, 'no server'\n"
            "assert list(fs._preload_modules) == list(PRELOAD), fs._preload_modules\n"
            "print('server', fs._forkserver_pid)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("server ")
