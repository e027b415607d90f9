"""How a command ends when something goes wrong: one line on stderr and a status, never a
password, never a traceback for something the user can fix.

- UserError: ``error: ...``, exit 2.
- A database that cannot be reached, is locked, full or too slow: ``error: ...``, exit 2.
- Trials that failed for good (engine.failures.TrialsFailed): ``error: ...``, exit 1.
- A path that cannot be used (an OSError naming it: too long, not readable, ...): exit 2.
- Ctrl-C: exit 130; SIGTERM (engine.signals.Terminated): exit 143; both with a resume hint.
- Warnings (an unusable checkpoint, oversubscribed cores): ``warning: ...``, one line each.
Anything else is a bug and keeps its traceback, scrubbed of passwords.
"""

from __future__ import annotations

import sys
import traceback
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import Any

import click

from ablation.errors import UserError

RESUME_HINT = ("the running trial is marked failed; run the same command again to resume where "
               "it stopped")


def _scrub(text: str) -> str:
    from ablation.engine.storage.redaction import scrub

    return scrub(text)


def one_line(text: str) -> str:
    """``text`` on one line (driver messages may span several), credentials masked, control
    characters (a NUL in a path, say) shown escaped rather than sent to the terminal."""
    joined = " ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return _scrub("".join(c if c.isprintable() else repr(c)[1:-1] for c in joined))


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    click.echo(f"warning: {one_line(str(message))}", err=True)


def guarded(call: Callable[[], Any], ctx: click.Context) -> Any:
    """Run a command; end it as the module docstring says."""
    from ablation.engine.storage.redaction import forget

    forget()  # secrets of an earlier command in this process (tests) are not this one's
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return call()
    except UserError as exc:
        click.echo(f"error: {one_line(str(exc))}", err=True)
        ctx.exit(2)
    except KeyboardInterrupt as exc:
        terminated = type(exc).__name__ == "Terminated"
        click.echo(f"\n{'terminated' if terminated else 'interrupted'}: {RESUME_HINT}", err=True)
        ctx.exit(143 if terminated else 130)
    except Exception as exc:
        _known_failure(exc, ctx)
        raise


def _known_failure(exc: Exception, ctx: click.Context) -> None:
    """Exit with one line for a failed database or trials that failed for good."""
    from ablation.engine.storage.connect import database_error, describe
    from ablation.engine.trials.failures import TrialsFailed

    if isinstance(exc, TrialsFailed):
        click.echo(f"error: {one_line(str(exc))}", err=True)
        ctx.exit(1)
    if isinstance(exc, OSError) and exc.filename:  # a path the user gave cannot be used
        click.echo(f"error: {one_line(f'{exc.filename}: {exc.strerror or exc}')}", err=True)
        ctx.exit(2)
    if database_error(exc) or database_error(getattr(exc, "__cause__", None) or exc):
        click.echo(f"error: {one_line(describe(exc, 'database'))}", err=True)
        ctx.exit(2)


def scrubbing_excepthook(kind: type[BaseException], exc: BaseException,
                         tb: TracebackType | None) -> None:
    """Print an unexpected error's traceback with every known password masked."""
    sys.stderr.write(_scrub("".join(traceback.format_exception(kind, exc, tb))))
