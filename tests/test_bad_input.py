"""Bad input everywhere: each case gives a clear line and its exit status, never a traceback.

The table in docs/bad-input.md is rendered from CASES; test_docs_table_is_current fails when it
is stale (rewrite it with ABLATE_WRITE_DOCS=1 python -m pytest tests/test_bad_input.py).
"""

from __future__ import annotations

import errno
import gzip
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from ablation.cli import main
from ablation.training import checkpoint as ckpt_mod
from tests.bad_input_cases import NEW_CASES, PG_EMPTY, Case
from tests.bad_input_cases import _done as copy_done
from tests.bad_input_round3 import ROUND3_CASES, ROUND3_FAULTS
from tests.bad_input_storage import STORAGE_CASES
from tests.fakes import scratch_database, write_idx

DOC = Path(__file__).resolve().parents[1] / "docs" / "bad-input.md"

STUDY = """
[study]
name = "bad"
seeds = 1
[baseline]
dataset = "digits"
model = "resnet-lite"
width = 4
epochs = 1
train_limit = 100
[axes.optimizer]
choices = ["sgd", "nadam"]
"""


def _study(tmp: Path, old: str = "", new: str = "", name: str = "s.toml") -> None:
    (tmp / name).write_text(STUDY.replace(old, new) if old else STUDY)


def _mnist(tmp: Path, damage: Callable[[Path], None] | None = None, gz: bool = True) -> None:
    write_idx(tmp / "mnist", "", 50, 20, gz=gz)
    if damage:
        damage(tmp / "mnist" / ("train-images-idx3-ubyte" + (".gz" if gz else "")))


def _truncate(path: Path) -> None:
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"this is not gzip data at all" * 10)


def _bad_magic(path: Path) -> None:
    blob = bytearray(path.read_bytes())
    blob[0:4] = struct.pack(">I", 1234)
    path.write_bytes(bytes(blob))


def _disk_full_on_second_checkpoint(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _study(tmp)
    real, calls = ckpt_mod._write, []

    def write(state, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(state, path)

    monkeypatch.setattr(ckpt_mod, "_write", write)


def _first_trial_kept(tmp: Path) -> None:
    trials = optuna.load_study(study_name="bad", storage=f"sqlite:///{tmp / 'new.db'}"
                               ).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL"]
    assert trials[0].value is not None and "disk full" in trials[1].user_attrs["failure"]
    assert not list(tmp.rglob("*.part"))


def _done(tmp: Path, changed: str = "") -> None:
    """A finished study in {tmp}/done.db (2 tiny trials), and s.toml (changed if asked)."""
    copy_done(tmp)
    if changed:
        _study(tmp, "epochs = 1", changed)


def _done_intact(tmp: Path) -> None:
    trials = optuna.load_study(study_name="bad", storage=f"sqlite:///{tmp / 'done.db'}"
                               ).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]


S = ("run", "{tmp}/s.toml", "--storage", "{new}")

CASES: list[Case] = [
    # command-line values
    Case("CLI", "unknown built-in study", ("run", "nosuch"), 2, "unknown study 'nosuch'"),
    Case("CLI", "--workers 0", (*S, "--workers", "0"), 2, "Invalid value for '--workers'",
         _study),
    Case("CLI", "--workers not a number", (*S, "--workers", "two"), 2,
         "Invalid value for '--workers'", _study),
    Case("CLI", "--threads negative", (*S, "--threads", "-1"), 2,
         "Invalid value for '--threads'", _study),
    Case("CLI", "--epochs 0", (*S, "--epochs", "0"), 2, "Invalid value for '--epochs'", _study),
    Case("CLI", "--seeds 0", (*S, "--seeds", "0"), 2, "Invalid value for '--seeds'", _study),
    Case("CLI", "--heartbeat-grace 1 (below 2 s)", (*S, "--heartbeat-grace", "1"), 2,
         "Invalid value for '--heartbeat-grace'", _study),
    Case("CLI", "--max-trials with --workers", (*S, "--workers", "2", "--max-trials", "1"), 2,
         "--max-trials counts the trials of one worker", _study),
    Case("CLI", "unknown --dataset", (*S, "--dataset", "nosuch"), 2,
         "unknown dataset 'nosuch'", _study),
    Case("CLI", "unknown --model", (*S, "--model", "vgg"), 2, "unknown model 'vgg'", _study),
    Case("CLI", "unknown option", (*S, "--wrokers", "2"), 2, "No such option '--wrokers'",
         _study),
    Case("CLI", "dashboard --port out of range", ("dashboard", "--port", "70000"), 2,
         "Invalid value for '--port'"),
    # study files
    Case("study file", "missing study file", ("run", "{tmp}/nosuch.toml"), 2,
         "study file not found"),
    Case("study file", "unknown key (typo)", S, 2, "baseline: unknown key 'widht'",
         lambda t: _study(t, "width = 4", "widht = 4")),
    Case("study file", "wrong type", S, 2, "baseline: epochs must be an integer, got 'ten'",
         lambda t: _study(t, "epochs = 1", 'epochs = "ten"')),
    Case("study file", "value out of range", S, 2, "baseline: lr must be > 0",
         lambda t: _study(t, "epochs = 1", "lr = -1.0")),
    Case("study file", "TOML syntax error", S, 2, "invalid TOML",
         lambda t: _study(t, '"sgd", "nadam"', "]")),
    Case("study file", "YAML syntax error", ("run", "{tmp}/s.yaml", "--storage", "{new}"), 2,
         "invalid YAML", lambda t: (t / "s.yaml").write_text("study: [unclosed\n")),
    Case("study file", "empty YAML file", ("run", "{tmp}/s.yaml", "--storage", "{new}"), 2,
         "a study file must be a mapping", lambda t: (t / "s.yaml").write_text("")),
    Case("study file", "empty choices", S, 2, "axes.optimizer.choices: must be a non-empty list",
         lambda t: _study(t, '["sgd", "nadam"]', "[]")),
    Case("study file", "unknown optimizer in an axis", S, 2, "adamm",
         lambda t: _study(t, '"nadam"]', '"adamm"]')),
    Case("study file", "low/high axis without a sampler", S, 2,
         "low/high axes need a sampler that searches ranges",
         lambda t: _study(t, '[axes.optimizer]\nchoices = ["sgd", "nadam"]',
                          "[axes.lr]\nlow = 0.001\nhigh = 0.1")),
    # storage URLs and database files
    Case("storage", "unknown scheme", ("run", "{tmp}/s.toml", "--storage", "nosuch://x"), 2,
         "unknown database scheme 'nosuch'", _study),
    Case("storage", "not a URL", ("run", "{tmp}/s.toml", "--storage", "not a url"), 2,
         "is not a database URL", _study),
    Case("storage", "SQLite without a file", ("run", "{tmp}/s.toml", "--storage", "sqlite://"),
         2, "SQLite needs a file path", _study),
    Case("storage", "SQLite in a missing directory",
         ("run", "{tmp}/s.toml", "--storage", "sqlite:///{tmp}/no/such/dir/a.db"), 2,
         "does not exist", _study),
    Case("storage", "SQLite path is a directory",
         ("run", "{tmp}/s.toml", "--storage", "sqlite:///{tmp}"), 2,
         "is a directory, not a database file", _study),
    Case("storage", "database file that is not a database",
         ("run", "{tmp}/s.toml", "--storage", "sqlite:///{tmp}/junk.db"), 2,
         "is not an SQLite database",
         lambda t: (_study(t), (t / "junk.db").write_text("hello")),
         after=lambda t: (t / "junk.db").read_text() == "hello" or pytest.fail("changed")),
    Case("storage", "driver not installed",
         ("run", "{tmp}/s.toml", "--storage", "postgresql+pg8000://u@h/db"), 2,
         "the driver for 'postgresql+pg8000' is not installed", _study),
    Case("storage", "unreachable host (port closed)",
         ("run", "{tmp}/s.toml", "--storage", "postgresql://u@127.0.0.1:1/db"), 2,
         "Connection refused", _study),
    Case("storage", "unknown host name",
         ("run", "{tmp}/s.toml", "--storage", "postgresql://u@nosuchhost.invalid/db"), 2,
         "cannot open the database: failed to resolve host 'nosuchhost.invalid'", _study),
    Case("storage", "wrong password (server refuses it)",
         ("run", "{tmp}/s.toml", "--storage", "postgresql://alice:wrong@127.0.0.1:{pg}/db"), 2,
         "password authentication failed", _study),
    Case("storage", "show an unknown study",
         ("show", "nosuch", "--storage", "sqlite:///{tmp}/done.db"), 2, "no study 'nosuch'",
         _done, after=_done_intact),
    Case("storage", "worker with a changed baseline under a stored study's name",
         ("worker", "{tmp}/s.toml", "--storage", "sqlite:///{tmp}/done.db"), 2,
         "was created from a different baseline or axes",
         lambda t: _done(t, "epochs = 1\nlr = 0.01"), after=_done_intact),
    Case("disk", "export into a missing folder",
         ("export", "bad", "--csv", "{tmp}/missing/out.csv", "--storage",
          "sqlite:///{tmp}/done.db"), 2, "directory {tmp}/missing does not exist", _done),
    Case("storage", "show on a database that does not exist", ("show", "bad", "--storage",
         "{new}"), 2, "no database at"),
    # data files
    Case("data", "MNIST files missing", (*S, "--dataset", "mnist", "--data-dir", "{tmp}/none"),
         2, "mnist: data files not found", _study),
    Case("data", "truncated IDX .gz", (*S, "--dataset", "mnist", "--data-dir", "{tmp}/mnist"),
         2, "truncated or corrupt", lambda t: (_study(t), _mnist(t, _truncate))),
    Case("data", ".gz file that is not gzip",
         (*S, "--dataset", "mnist", "--data-dir", "{tmp}/mnist"), 2, "truncated or corrupt",
         lambda t: (_study(t), _mnist(t, _garbage))),
    Case("data", "IDX file with a wrong magic number",
         (*S, "--dataset", "mnist", "--data-dir", "{tmp}/mnist"), 2, "cannot read the files",
         lambda t: (_study(t), _mnist(t, _bad_magic, gz=False))),
    # artifacts, checkpoints
    Case("disk", "--artifacts is a file", (*S, "--artifacts", "{tmp}/s.toml/x"), 2,
         "is a file, not a directory", _study),
    Case("disk", "disk full while writing a checkpoint (2nd trial)", S, 2,
         "disk full", _disk_full_on_second_checkpoint, after=_first_trial_kept,
         writes_nothing=False, patches=True),
]
CASES += NEW_CASES  # issue #12: tests/bad_input_cases.py
CASES += STORAGE_CASES  # issue 21: tests/bad_input_storage.py
CASES += ROUND3_CASES  # issue #21: tests/bad_input_round3.py


@pytest.fixture(scope="module")
def fake_pg_port() -> Iterator[int]:
    """A socket that speaks just enough of PostgreSQL's protocol to refuse a password."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                _refuse_password(conn)

    threading.Thread(target=serve, daemon=True).start()
    yield port
    server.close()


def _refuse_password(conn: socket.socket) -> None:
    def read(n: int) -> bytes:
        data = b""
        while len(data) < n and (chunk := conn.recv(n - len(data))):
            data += chunk
        return data

    while True:  # SSL / GSS encryption requests first (answered "no"), then the startup packet
        head = read(8)
        if len(head) < 8:
            return
        length, code = struct.unpack(">II", head)
        if code in (80877103, 80877104):
            conn.sendall(b"N")
            continue
        read(length - 8)
        break
    conn.sendall(b"R" + struct.pack(">II", 8, 3))  # AuthenticationCleartextPassword
    kind = read(1)
    if kind == b"p":
        read(struct.unpack(">I", read(4))[0] - 4)
    body = (b"SFATAL\0VFATAL\0C28P01\0"
            b'Mpassword authentication failed for user "alice"\0\0')
    conn.sendall(b"E" + struct.pack(">I", len(body) + 4) + body)


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (a hung database host)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []

    def serve() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in held:
        conn.close()


@pytest.fixture(scope="module")
def pg_empty() -> Iterator[str | None]:
    """An empty PostgreSQL schema for the rows that need one (None without a server)."""
    try:
        with scratch_database("postgres", "CREATE SCHEMA {}", "DROP SCHEMA {} CASCADE") as (
                base, schema):
            sep = "&" if "?" in base else "?"
            PG_EMPTY[:] = [f"{base}{sep}options=-csearch_path%3D{schema}"]
            yield PG_EMPTY[0]
    except pytest.skip.Exception:
        yield None


@pytest.mark.parametrize("case", CASES, ids=[c.what for c in CASES])
def test_bad_input(case, tmp_path, monkeypatch, fake_pg_port, silent_port, pg_empty):
    monkeypatch.chdir(tmp_path)
    if "{pgempty}" in " ".join(case.args) and pg_empty is None:
        pytest.skip("no PostgreSQL server reachable")
    if case.setup is not None:
        case.setup(*((tmp_path, monkeypatch) if case.patches else (tmp_path,)))
    for key, value in case.env:
        monkeypatch.setenv(key, value)
    kept = {name: (tmp_path / name).read_bytes() for name in case.same}
    fill = {"tmp": str(tmp_path), "new": f"sqlite:///{tmp_path / 'new.db'}",
            "pg": str(fake_pg_port), "silent": str(silent_port), "pgempty": pg_empty or ""}
    args = [a.format(**fill) for a in case.args]
    try:
        res = CliRunner().invoke(main, args)
    finally:
        if case.after is not None and case.same:  # release what the set-up holds (locks)
            case.after(tmp_path)
    out = res.output
    assert res.exit_code == case.code, out
    assert case.message.format(**fill) in out, out
    assert "Traceback" not in out
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    if case.code == 2 and out.startswith("error:"):
        assert out.count("\n") == 1, out  # one line
    for text in case.absent:
        assert text not in out, out
    if case.writes_nothing:
        assert not (tmp_path / "new.db").exists()
        assert not (tmp_path / "storage").exists()
    for name, blob in kept.items():
        assert (tmp_path / name).read_bytes() == blob, f"{name} changed"
    if case.after is not None and not case.same:
        case.after(tmp_path)


def render() -> str:
    """docs/bad-input.md from CASES."""
    lines = ["# Bad input and what `ablate` does with it", "",
             "Generated from `tests/test_bad_input.py` (`CASES`; rows 43 on, issue #12, in "
             "`tests/bad_input_cases.py`; issue #21's in `tests/bad_input_round3.py`), which "
             "runs every row and checks the exit status and the message; `{tmp}` is a scratch "
             "folder, `{new}` a fresh SQLite URL in it, "
             "`done.db` a finished study, SILENT a port that accepts connections and never "
             "answers, PGEMPTY an empty PostgreSQL schema. Exit 2 means a user error: one line "
             "on stderr, no traceback, no password, and nothing written: `{new}` is never "
             "created and every database or input a row names is checked byte for byte after "
             "the command (the disk-full rows keep what was finished before the disk filled).",
             "",
             "| # | kind | bad input | command | exit | message contains |",
             "|---|---|---|---|---|---|"]
    for i, c in enumerate(CASES, 1):
        cmd = "ablate " + " ".join(a if " " not in a else f"'{a}'" for a in c.args)
        cmd = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in cmd)
        cmd = (cmd.replace("{pg}", "PORT").replace("{silent}", "SILENT")
               .replace("{pgempty}", "PGEMPTY").replace("|", "\\|"))
        lines.append(f"| {i} | {c.group} | {c.what} | `{cmd}` | {c.code} | "
                     f"{c.message.replace('|', '/')} |")
    lines += ["", "## Faults tested elsewhere", "",
              "Faults that need a paused worker, a trainer or two outputs side by side "
              "(issue #21), each with the test that shows what ablate does now "
              "(`tests/bad_input_round3.py`, `ROUND3_FAULTS`).", "",
              "| kind | fault | what ablate does | test |", "|---|---|---|---|"]
    lines += [f"| {k} | {f} | {w} | `{t}` |" for k, f, w, t in ROUND3_FAULTS]
    return "\n".join(lines) + "\n"


def test_docs_table_is_current():
    assert len(CASES) >= 30 and len(NEW_CASES) >= 60
    if os.environ.get("ABLATE_WRITE_DOCS") == "1":
        DOC.write_text(render())
    assert DOC.read_text() == render(), "docs/bad-input.md is stale: ABLATE_WRITE_DOCS=1"


def test_truncated_gz_is_reported_by_name_and_leaves_no_part_file(tmp_path):
    from ablation.data.datasets import load_raw
    from ablation.errors import UserError

    _mnist(tmp_path, _truncate)
    with pytest.raises(UserError, match="train-images-idx3-ubyte.gz"):
        load_raw("mnist", str(tmp_path / "mnist"))
    assert not list(Path(os.environ["ABLATE_CACHE"]).rglob("*.part"))


def test_gzip_helper_really_truncates(tmp_path):
    _mnist(tmp_path, _truncate)
    with pytest.raises(EOFError), gzip.open(tmp_path / "mnist" / "train-images-idx3-ubyte.gz") \
            as f:
        f.read()
