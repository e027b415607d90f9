"""SIGTERM (what timeout, systemd, Docker and SLURM send) behaves like Ctrl-C.

Inside :func:`stop_on_sigterm`, the first SIGTERM or SIGINT raises :class:`Terminated` (a
KeyboardInterrupt) in the main thread, so the running trial is marked interrupted and its point
goes back to pending exactly as after Ctrl-C, and the process exits at once instead of leaving
its point to wait out the heartbeat grace period. Later signals are ignored: the first one's
clean-up (a few database writes) must not be cut short.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from types import FrameType


class Terminated(KeyboardInterrupt):
    """The process got SIGTERM: stop as after Ctrl-C."""


def _stop_once(signum: int, _frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT interrupt once (see the module docstring)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    for s in previous:
        signal.signal(s, _stop_once)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _one_line_warning(message: Warning | str, category: type[Warning], filename: str,
                      lineno: int, file: object = None, line: str | None = None) -> None:
    print(f"warning: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


def prepare_worker_process() -> None:
    """For a spawned worker process: SIGTERM and SIGINT interrupt once, warnings are one line."""
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, _stop_once)
    warnings.showwarning = _one_line_warning
