"""Headless Chromium, used to render report pages: static chart export and the browser test.

We drive the system's ``chromium`` (Debian package) directly rather than kaleido, which would
fetch its own Chrome build at run time. Every call gets a fresh profile directory.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from ablation.errors import UserError

NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--no-first-run", "--disable-extensions", "--mute-audio")


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome executable on PATH, or None."""
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(args: list[str], budget_ms: int, timeout: float) -> subprocess.CompletedProcess[str]:
    exe = find_chromium()
    if exe is None:
        raise UserError("chromium not found on PATH (Debian: apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="ablate-chromium-") as profile:
        cmd = [exe, *FLAGS, f"--user-data-dir={profile}",
               f"--virtual-time-budget={budget_ms}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              check=False)


def dump_dom(page: Path, budget_ms: int = 15000, timeout: float = 120) -> str:
    """The page's DOM after its scripts ran for ``budget_ms`` of virtual time."""
    done = _run(["--dump-dom", page.resolve().as_uri()], budget_ms, timeout)
    if done.returncode != 0 or not done.stdout:
        raise RuntimeError(f"chromium --dump-dom failed ({done.returncode}): "
                           f"{done.stderr[-500:]}")
    return done.stdout


def screenshot(page: Path, png: Path, width: int = 1400, height: int = 4000,
               budget_ms: int = 15000, timeout: float = 120) -> Path:
    """A PNG of the page rendered in a ``width`` x ``height`` window."""
    done = _run([f"--screenshot={png.resolve()}", f"--window-size={width},{height}",
                 page.resolve().as_uri()], budget_ms, timeout)
    if not png.is_file():
        raise RuntimeError(f"chromium --screenshot failed ({done.returncode}): "
                           f"{done.stderr[-500:]}")
    return png
