"""Writing output files safely: never over a database, never half a file.

Every file a command writes (export, report, predict, cross-eval, embed) goes through
:func:`write_output`. It refuses a target that is the study database, one of SQLite's side files
(-wal, -shm, -journal) or any other SQLite database, a directory, or one of the command's own
inputs; and it writes to a temporary file in the target's folder that is moved into place only
when complete, and removed on any failure, Ctrl-C included.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import click

from ablation.errors import UserError

SQLITE_MAGIC = b"SQLite format 3\x00"
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")


def _is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def _storage_files(storage: str | None) -> list[Path]:
    """The study database file and its side files, for an SQLite storage URL."""
    if not storage:
        return []
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(storage)
    except Exception:  # noqa: BLE001 - not a URL: the command reports that itself
        return []
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return []
    db = Path(parsed.database)
    return [db, *(Path(f"{db}{s}") for s in SIDE_SUFFIXES)]


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_output(path: Path, storage: str | None = None, inputs: Iterable[Path] = (),
                 option: str = "output") -> None:
    """Refuse ``path`` as an output before any slow work; see the module docstring."""
    if str(path) == "-":
        return
    try:
        _check_output(path, storage, inputs, option)
    except OSError as exc:  # a name too long, a loop of links, ...
        raise UserError(f"{option} {path}: {exc.strerror or exc}") from None


def _check_output(path: Path, storage: str | None, inputs: Iterable[Path], option: str) -> None:
    for protected in _storage_files(storage):
        if _same(path, protected):
            raise UserError(f"{option} {path}: that is the study database (--storage); "
                            "writing there would destroy the study; choose another file")
    for given in inputs:
        if _same(path, given):
            raise UserError(f"{option} {path}: that is an input of this command; choose another "
                            "file")
    if path.is_dir():
        raise UserError(f"{option} {path}: is a directory; give a file name")
    side = next((s for s in SIDE_SUFFIXES if path.name.endswith(s)), None)
    if _is_sqlite(path) or (side and _is_sqlite(path.with_name(path.name[:-len(side)]))):
        raise UserError(f"{option} {path}: is an SQLite database (or one of its -wal/-shm/"
                        "-journal files); ablate never writes over a database")
    if not path.parent.is_dir():
        raise UserError(f"cannot write {path}: directory {path.parent} does not exist")


def write_output(path: Path, data: str | bytes, storage: str | None = None,
                 inputs: Iterable[Path] = (), option: str = "output", say: bool = True) -> None:
    """Write ``data`` to ``path`` (standard output for '-') after :func:`check_output`,
    atomically: a unique temporary file beside it, renamed into place when complete."""
    if str(path) == "-":
        sys.stdout.write(data if isinstance(data, str) else data.decode("utf-8"))
        sys.stdout.flush()
        return
    blob = data.encode("utf-8") if isinstance(data, str) else data
    check_output(path, storage, inputs, option)
    target = path.resolve() if path.is_symlink() else path  # replace the file, not the link
    try:
        if target.exists() and not target.is_file():  # /dev/stdout, a FIFO: no rename there
            with open(target, "wb") as f:
                f.write(blob)
        else:
            _replace_atomically(target, blob)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    if say:
        click.echo(f"wrote {path}")


def _replace_atomically(target: Path, blob: bytes) -> None:
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with open(tmp, "wb") as f:
            f.write(blob)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)  # after a failure or Ctrl-C; a no-op once renamed


def check_image_folder(folder: Path, storage: str | None = None) -> None:
    """``report --images FOLDER``: a folder (made if missing) whose parent exists."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--images {folder}: is a file, not a directory")
    if not folder.parent.is_dir():
        raise UserError(f"--images {folder}: directory {folder.parent} does not exist")
    for protected in _storage_files(storage):
        if _same(folder, protected):
            raise UserError(f"--images {folder}: that is the study database (--storage)")


def image_writer(storage: str | None) -> Callable[[Path, bytes], None]:
    """The writer ``export_images`` calls for each chart file: guarded and atomic."""
    def write(path: Path, blob: bytes) -> None:
        write_output(path, blob, storage, option="--images", say=False)

    return write
