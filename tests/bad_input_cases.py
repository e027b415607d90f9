"""The rows of tests/test_bad_input.py added for issue #12: data files, study files, command-line
values, storage URLs, disks and artifacts that must each end in one clear line, exit 2, and
storage left byte for byte as it was (``same``) or never created (``{new}``).

Set-ups that need a finished study copy one made once per session (``_template``), so the
table stays fast.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest

from tests.fakes import _kaggle_csv, write_idx


@dataclass(frozen=True)
class Case:
    """One bad input: the command (placeholders filled per test), exit status, message."""

    group: str
    what: str
    args: tuple[str, ...]
    code: int
    message: str
    setup: Callable[..., None] | None = None
    after: Callable[[Path], None] | None = None
    writes_nothing: bool = True  # {new} must not exist afterwards
    patches: bool = False  # setup also takes pytest's monkeypatch
    same: tuple[str, ...] = ()  # files (under {tmp}) that must keep every byte
    absent: tuple[str, ...] = ()  # text that must not appear in the output (passwords)
    env: tuple[tuple[str, str], ...] = ()  # environment for this row only


# ---------------------------------------------------------------- shared set-ups

def _bad():
    import tests.test_bad_input as bad  # the original table's helpers (no import cycle)

    return bad


def _study(tmp: Path, old: str = "", new: str = "", name: str = "s.toml") -> None:
    _bad()._study(tmp, old, new, name)


_TEMPLATES: dict[str, Path] = {}


def _template(kind: str) -> Path:
    """A folder holding a finished study of ``kind`` ("done": digits, the real trainer;
    "kaggle": 28x28 Kaggle-format digits with untrained models), made once per session."""
    if kind not in _TEMPLATES:
        from click.testing import CliRunner

        from ablation.cli import main

        folder = Path(tempfile.mkdtemp(prefix=f"ablate-bad-{kind}-"))
        _study(folder)
        args = ["run", str(folder / "s.toml"), "--storage", f"sqlite:///{folder / 'done.db'}"]
        if kind == "kaggle":
            _kaggle_csv(folder / "kaggle" / "train.csv", 120)
            args += ["--dataset", "kaggle-digits", "--data-dir", str(folder / "kaggle"),
                     "--trainer", "tests.fakes:untrained_fit"]
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 0, res.output
        _TEMPLATES[kind] = folder
    return _TEMPLATES[kind]


def _done(tmp: Path, kind: str = "done") -> None:
    """{tmp}/done.db (study "bad", 2 complete trials), its artifacts, s.toml."""
    shutil.copytree(_template(kind), tmp, dirs_exist_ok=True)


def _kaggle(tmp: Path) -> None:
    _done(tmp, "kaggle")


def _weights_file(tmp: Path, number: int = 0) -> Path:
    url = f"sqlite:///{tmp / 'done.db'}"
    (name,) = optuna.get_all_study_names(url)  # "bad", or its variant "bad[dataset=...]"
    study = optuna.load_study(study_name=name, storage=url)
    return tmp / "artifacts" / study.trials[number].user_attrs["weights_artifact"]


def _no_checksum(tmp: Path) -> None:
    """As a trial stored before weights carried a SHA-256 (issue #21): the loader's own checks
    are all that stand between it and a damaged file."""
    _sqlite_exec(tmp / "done.db", "DELETE FROM trial_user_attributes WHERE key = 'weights_sha256'")


def _corrupt_weights(tmp: Path, kind: str = "done") -> None:
    _done(tmp, kind)
    _no_checksum(tmp)
    _weights_file(tmp).write_bytes(b"PK\x03\x04 not a weights file" * 20)


def _foreign_weights(tmp: Path) -> None:
    import torch

    _kaggle(tmp)
    _no_checksum(tmp)
    torch.save(torch.nn.Linear(3, 2).state_dict(), _weights_file(tmp))


def _sqlite_file(path: Path, sql: str = "CREATE TABLE notes (x TEXT)") -> None:
    conn = sqlite3.connect(path)
    conn.execute(sql)
    conn.commit()
    conn.close()


def _old_schema(tmp: Path) -> None:
    _done(tmp)
    conn = sqlite3.connect(tmp / "done.db")
    conn.execute("PRAGMA journal_mode=delete")
    conn.execute("UPDATE alembic_version SET version_num = 'v3.0.0.d'")
    conn.execute("UPDATE version_info SET library_version = '3.0.0'")
    conn.commit()
    conn.close()


_HELD: list[sqlite3.Connection] = []


def _locked(tmp: Path) -> None:
    """done.db in rollback-journal mode, held under an exclusive lock by another connection."""
    _done(tmp)
    conn = sqlite3.connect(tmp / "done.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=delete")
    conn.execute("BEGIN EXCLUSIVE")
    _HELD.append(conn)


def _unlock(tmp: Path) -> None:
    while _HELD:
        _HELD.pop().close()


def _disk_full(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The study database may not grow by a single page: SQLite reports SQLITE_FULL."""
    import ablation.engine.storage.store as store

    _done(tmp)
    _study(tmp, 'name = "bad"', 'name = "bigger"')
    real = store._sqlite_pragmas

    def pragmas(conn, record):
        real(conn, record)
        cur = conn.cursor()
        pages = cur.execute("PRAGMA page_count").fetchone()[0]
        cur.execute(f"PRAGMA max_page_count = {pages}")
        cur.close()

    monkeypatch.setattr(store, "_sqlite_pragmas", pragmas)


def _still_consistent(tmp: Path) -> None:
    conn = sqlite3.connect(tmp / "done.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    trials = optuna.load_study(study_name="bad", storage=f"sqlite:///{tmp / 'done.db'}"
                               ).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    assert not list(tmp.rglob("*.part"))


def _disk_full_on_upload(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The artifact folder fills up while the first trial's weights are stored."""
    from ablation.engine.trials.trial_writes import DeferredArtifacts

    _study(tmp)

    def upload(self, trial, artifacts_dir, path, mimetype):
        raise OSError(errno.ENOSPC, "No space left on device", str(artifacts_dir / "x"))

    monkeypatch.setattr(DeferredArtifacts, "upload", upload)


def _upload_failure_recorded(tmp: Path) -> None:
    from ablation.engine.storage import db
    from ablation.engine.storage.store import open_store

    url = f"sqlite:///{tmp / 'new.db'}"
    trials = optuna.load_study(study_name="bad", storage=url).get_trials()
    assert [t.state.name for t in trials] == ["FAIL"]
    assert trials[0].user_attrs["failure"].startswith("OSError: [Errno 28]")
    points = db.list_points(open_store(url).engine, "bad")
    assert [(p.state, p.attempts) for p in points] == [("pending", 0)] * 2


def _broken_trainer(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _study(tmp)
    (tmp / "broken_trainer.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.syspath_prepend(str(tmp))


# ---------------------------------------------------------------- data files

def _idx(tmp: Path, damage: Callable[[Path], None], n_test: int = 20) -> None:
    _study(tmp)
    write_idx(tmp / "mnist", "", 50, n_test, gz=False)
    damage(tmp / "mnist")


def _label_out_of_range(folder: Path) -> None:
    path = folder / "train-labels-idx1-ubyte"
    blob = bytearray(path.read_bytes())
    blob[8 + 17] = 200
    path.write_bytes(bytes(blob))


def _fewer_labels(folder: Path) -> None:
    path = folder / "train-labels-idx1-ubyte"
    path.write_bytes(struct.pack(">II", 2049, 40) + path.read_bytes()[8:48])


def _csv_study(**kw: object) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        _study(tmp)
        _kaggle_csv(tmp / "kaggle" / "train.csv", **kw)  # type: ignore[arg-type]

    return setup


def _predict_input(**kw: object) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        _kaggle(tmp)
        _kaggle_csv(tmp / "test.csv", labelled=False, **kw)  # type: ignore[arg-type]

    return setup


# ---------------------------------------------------------------- study files

def _write(name: str, text: str | bytes) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        path = tmp / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    return setup


def _replace(old: str, new: str) -> Callable[[Path], None]:
    return lambda t: _study(t, old, new)


_YAML = """study:
  name: bad
  seeds: 1
baseline:
  dataset: digits
  epochs: 1
  width: 4
axes:
  optimizer:
    choices: [sgd, nadam]
"""

_HUNDRED = {"lr": [f"{0.001 * (i + 1):.3f}" for i in range(100)],
            "weight_decay": [f"{0.0001 * i:.4f}" for i in range(100)],
            "dropout": [f"{0.005 * i:.3f}" for i in range(100)],
            "label_smoothing": [f"{0.005 * i:.3f}" for i in range(100)]}
_FACTORIAL = "[study]\nname = \"huge\"\nseeds = 1\nmode = \"factorial\"\n[baseline]\n" + "".join(
    f"[axes.{k}]\nchoices = [{', '.join(v)}]\n" for k, v in _HUNDRED.items())

S = ("run", "{tmp}/s.toml", "--storage", "{new}")
Y = ("run", "{tmp}/s.yaml", "--storage", "{new}")
MNIST = (*S, "--dataset", "mnist", "--data-dir", "{tmp}/mnist")
KAGGLE = (*S, "--dataset", "kaggle-digits", "--data-dir", "{tmp}/kaggle")
DONE = ("--storage", "sqlite:///{tmp}/done.db")


def _predict_to(output: str) -> tuple[str, ...]:
    return ("predict", "bad", "--trial", "0", "--input", "{tmp}/test.csv", "-o", output, *DONE,
            "--data-dir", "{tmp}/kaggle")


PREDICT = _predict_to("{tmp}/sub.csv")
SECRET = "hunter2-Sup3r"

NEW_CASES: list[Case] = [
    # data files
    Case("data", "IDX label outside 0..9", MNIST, 2,
         "label 200 at row 17 is not a class (labels are 0..9)",
         lambda t: _idx(t, _label_out_of_range)),
    Case("data", "IDX: 40 labels for 50 images", MNIST, 2, "has 50 images but 40 labels",
         lambda t: _idx(t, _fewer_labels)),
    Case("data", "IDX test part with no images", MNIST, 2, "mnist: cannot read the files",
         lambda t: _idx(t, lambda f: None, n_test=0)),
    Case("data", "CSV with only a header", KAGGLE, 2, "no data rows under the header",
         _csv_study(rows=0)),
    Case("data", "CSV starting with a byte-order mark", KAGGLE, 2, "byte-order mark (BOM)",
         _csv_study(rows=60, bom=True)),
    Case("data", "CSV label 10 (classes are 0..9)", KAGGLE, 2, "label 10 at row 1 is not a class",
         _csv_study(rows=60, label=10)),
    Case("data", "CSV that is not UTF-8", KAGGLE, 2, "not UTF-8 text",
         _csv_study(rows=60, tail=b"\xff\xfe\n")),
    Case("data", "CSV with a ragged row", KAGGLE, 2, "malformed row",
         _csv_study(rows=60, tail=b"1,2,3\n")),
    Case("data", "CSV of 3 rows: the test split would be empty", KAGGLE, 2,
         "the test part", _csv_study(rows=3)),
    Case("data", "CSV of 40 rows: the validation split would be empty", KAGGLE, 2,
         "the validation split", _csv_study(rows=40)),
    Case("data", "CSV label -1", KAGGLE, 2, "label -1 at row 1", _csv_study(rows=60, label=-1)),
    # study files
    Case("study file", "study file that is not UTF-8", S, 2, "not UTF-8 text (byte 0xe9",
         _write("s.toml", b'[study]\nname = "bad"\ndescription = "caf\xe9"\n')),
    Case("study file", "400-digit integer", S, 2, "baseline.epochs is 1000000000000",
         _replace("epochs = 1", "epochs = 1" + "0" * 400)),
    Case("study file", "400-digit float (overflows to inf)", S, 2,
         "baseline.lr must be a finite number", _replace("epochs = 1", "lr = 1" + "0" * 400 +
                                                         ".0")),
    Case("study file", "grad_clip = nan", S, 2, "baseline.grad_clip must be a finite number",
         _replace("epochs = 1", "epochs = 1\ngrad_clip = nan")),
    Case("study file", "weight_decay = inf", S, 2,
         "baseline.weight_decay must be a finite number",
         _replace("epochs = 1", "epochs = 1\nweight_decay = inf")),
    Case("study file", "YAML .nan in an axis", Y, 2, "axes.lr.choices[1] must be a finite number",
         _write("s.yaml", _YAML.replace("optimizer:\n    choices: [sgd, nadam]",
                                        "lr:\n    choices: [0.1, .nan]"))),
    Case("study file", "deeply nested TOML", S, 2, "nested too deeply",
         _write("s.toml", "x = " + "[" * 5000 + "]" * 5000 + "\n")),
    Case("study file", "deeply nested YAML", Y, 2, "nested too deeply",
         _write("s.yaml", "x: " + "[" * 5000 + "]" * 5000 + "\n")),
    Case("study file", "choices nested 5 lists deep", S, 2,
         "nested 7 levels deep", _replace('["sgd", "nadam"]', '[[[[["sgd"]]]]]')),
    Case("study file", "seed beyond 2^31-1", S, 2,
         "study.seeds[0] is 2147483648, beyond what every storage backend keeps",
         _replace("seeds = 1", "seeds = [2147483648]")),
    Case("study file", "seeds = 100000", S, 2, "study.seeds must be from 1 to 1000",
         _replace("seeds = 1", "seeds = 100000")),
    Case("study file", "study name of 300 characters", S, 2,
         "study.name is 300 characters long", _replace('name = "bad"', f'name = "{"x" * 300}"')),
    Case("study file", "NUL in the study name", S, 2, "control character '\\x00'",
         _replace('name = "bad"', 'name = "b\\u0000ad"')),
    Case("study file", "control character in the description", S, 2,
         "study.description contains the control character '\\x07'",
         _replace('name = "bad"', 'name = "bad"\ndescription = "ring\\u0007"')),
    Case("study file", "markup in the study name", S, 2, "study.name must be non-empty",
         _replace('name = "bad"', 'name = "<img-src=x>"')),
    Case("study file", "a 10^8-point factorial", S, 2, "100000000 trials; a study runs at most",
         _write("s.toml", _FACTORIAL)),
    Case("study file", "n_trials = 10^9", S, 2, "study.n_trials must be an integer from 0",
         _replace("seeds = 1", "seeds = 1\nn_trials = 1000000000")),
    Case("study file", "study file of 2 MiB", S, 2, "a study file is at most 1048576 bytes",
         _write("s.toml", "# padding\n" * 210_000)),
    Case("study file", "YAML date where a name belongs", Y, 2, "date values are not allowed",
         _write("s.yaml", _YAML.replace("name: bad", "name: 2024-01-01"))),
    Case("study file", "YAML integer key", Y, 2, "key 1 must be a string",
         _write("s.yaml", _YAML.replace("  epochs: 1", "  epochs: 1\n  1: x"))),
    Case("study file", "sampler given as a list", S, 2, "study.sampler must be one of",
         _replace("seeds = 1", 'seeds = 1\nsampler = ["grid"]')),
    Case("study file", "epochs = 10^6", S, 2, "epochs must be at most 100000",
         _replace("epochs = 1", "epochs = 1000000")),
    Case("study file", "width = 100000", S, 2, "width must be at most 4096",
         _replace("width = 4", "width = 100000")),
    Case("study file", "YAML set value", Y, 2, "set values are not allowed",
         _write("s.yaml", _YAML.replace("[sgd, nadam]", "!!set {sgd: null}"))),
    Case("study file", "val_fraction = 0 with a validation metric", S, 2,
         "val_fraction = 0 leaves it empty", _replace("epochs = 1", "epochs = 1\n"
                                                       "val_fraction = 0.0")),
    # command-line values
    Case("CLI", "--trainer whose module fails as it loads",
         (*S, "--trainer", "broken_trainer:fit"), 2,
         "cannot import 'broken_trainer' (RuntimeError: boom at import)", _broken_trainer,
         patches=True),
    Case("CLI", "NUL byte in a path option", (*S, "--data-dir", "{tmp}/da\x00ta"), 2,
         "contains a NUL byte", _study),
    Case("CLI", "--seeds 1000000", (*S, "--seeds", "1000000"), 2,
         "Invalid value for '--seeds'", _study),
    Case("CLI", "--threads 5000", (*S, "--threads", "5000"), 2,
         "Invalid value for '--threads'", _study),
    Case("CLI", "--workers 100000", (*S, "--workers", "100000"), 2,
         "Invalid value for '--workers'", _study),
    Case("CLI", "--epochs 10^6", (*S, "--epochs", "1000000"), 2, "Invalid value for '--epochs'",
         _study),
    Case("CLI", "--heartbeat-grace 10^9", (*S, "--heartbeat-grace", "1000000000"), 2,
         "Invalid value for '--heartbeat-grace'", _study),
    Case("CLI", "--max-trials beyond 2^31-1", (*S, "--max-trials", "9999999999"), 2,
         "Invalid value for '--max-trials'", _study),
    Case("CLI", "--trial beyond 2^31-1", ("report", "bad", "-o", "{tmp}/r.html", "--trial",
                                          "9999999999", *DONE), 2,
         "Invalid value for '--trial'", _done, same=("done.db",)),
    Case("CLI", "--level nan", ("export", "bad", "--csv", "{tmp}/o.csv", *DONE, "--level", "nan"),
         2, "Invalid value for '--level'", _done, same=("done.db",)),
    Case("CLI", "empty --train list", ("cross-eval", "--train", ",", "--test", "digits",
                                       "--storage", "{new}"), 2,
         "--train ',': give at least one data set name"),
    Case("CLI", "empty --test list", ("cross-eval", "--train", "digits", "--test", "",
                                      "--storage", "{new}"), 2,
         "--test '': give at least one data set name"),
    Case("CLI", "--sample 10^9", ("embed", "bad", "--trial", "0", "-o", "{tmp}/e.html",
                                  "--sample", "1000000000", *DONE), 2,
         "Invalid value for '--sample'", _done, same=("done.db",)),
    Case("CLI", "--threads 1024 (more than the cores) is warned, not refused",
         ("run", "{tmp}/s.toml", *DONE, "--threads", "1024"), 0,
         "warning: 1 worker(s) x 1024 torch thread(s)", _done, writes_nothing=True),
    Case("CLI", "dashboard --host 0.0.0.0 without --allow-remote",
         ("dashboard", "--host", "0.0.0.0", *DONE), 2, "needs --allow-remote", _done,
         same=("done.db",)),
    Case("CLI", "dashboard --host that does not resolve",
         ("dashboard", "--host", "nosuchhost.invalid", *DONE), 2, "not an address or a name",
         _done),
    # storage URLs and database files
    Case("storage", "port that is not a number",
         ("show", "bad", "--storage", f"postgresql://u:{SECRET}@127.0.0.1:abc/db"), 2,
         "is not a database URL", absent=(SECRET,)),
    Case("storage", "a URL parameter the driver refuses",
         ("run", "{tmp}/s.toml", "--storage", "sqlite:///{tmp}/new.db?timeout=abc"), 2,
         "cannot open the database: ValueError", _study),
    Case("storage", "port 99999", ("show", "bad", "--storage", "postgresql://u@h:99999/db"), 2,
         "port 99999 is not a TCP port"),
    Case("storage", "port 0", ("run", "{tmp}/s.toml", "--storage", "mysql+pymysql://u@h:0/db"),
         2, "port 0 is not a TCP port", _study),
    Case("storage", "password in the query string is never shown",
         ("show", "bad", "--storage", f"postgresql://u@127.0.0.1:1/db?password={SECRET}"), 2,
         "password=***", absent=(SECRET,)),
    Case("storage", "show on an unrelated SQLite file",
         ("show", "bad", "--storage", "sqlite:///{tmp}/notes.db"), 2,
         "holds no Optuna studies", lambda t: _sqlite_file(t / "notes.db"), same=("notes.db",)),
    Case("storage", "show on a 0-byte file", ("show", "bad", "--storage", "sqlite:///{tmp}/z.db"),
         2, "is empty, not a study database", lambda t: (t / "z.db").write_bytes(b""),
         same=("z.db",)),
    Case("storage", "export from an unrelated SQLite file",
         ("export", "bad", "--csv", "{tmp}/o.csv", "--storage", "sqlite:///{tmp}/notes.db"), 2,
         "holds no Optuna studies", lambda t: _sqlite_file(t / "notes.db"), same=("notes.db",)),
    Case("storage", "run into another application's SQLite file",
         ("run", "{tmp}/s.toml", "--storage", "sqlite:///{tmp}/notes.db"), 2,
         "holds another application's tables (notes)",
         lambda t: (_study(t), _sqlite_file(t / "notes.db")), same=("notes.db",)),
    Case("storage", "a foreign table named like Optuna's",
         ("show", "bad", "--storage", "sqlite:///{tmp}/notes.db"), 2,
         "an incomplete or foreign Optuna schema",
         lambda t: _sqlite_file(t / "notes.db", "CREATE TABLE studies (x TEXT)"),
         same=("notes.db",)),
    Case("storage", "show on an old Optuna schema", ("show", "bad", *DONE), 2,
         "written by an older Optuna (schema v3.0.0.d", _old_schema, same=("done.db",)),
    Case("storage", "run on an old Optuna schema", ("run", "{tmp}/s.toml", *DONE), 2,
         "optuna storage upgrade", _old_schema, same=("done.db",)),
    Case("storage", "schema of an unknown Optuna version", ("show", "bad", *DONE), 2,
         "written by a newer or unknown Optuna",
         lambda t: (_done(t), _sqlite_exec(t / "done.db",
                                           "UPDATE alembic_version SET version_num = 'v9.9'")),
         same=("done.db",)),
    Case("storage", "SQLite file locked by another process", ("show", "bad", *DONE), 2,
         "the database is locked by another process (waited 1 s)", _locked, after=_unlock,
         same=("done.db",), env=(("ABLATE_LOCK_TIMEOUT", "1"),)),
    Case("storage", "run on a locked SQLite file", ("run", "{tmp}/s.toml", *DONE), 2,
         "is locked by another process", _locked, after=_unlock, same=("done.db",),
         env=(("ABLATE_LOCK_TIMEOUT", "1"),)),
    Case("storage", "PostgreSQL host that accepts and never answers",
         ("show", "bad", "--storage", f"postgresql://u:{SECRET}@127.0.0.1:{{silent}}/db"), 2,
         "no answer from the database server within 2 s",  # libpq waits 2 s at least
         env=(("ABLATE_CONNECT_TIMEOUT", "2"),), absent=(SECRET,)),
    Case("storage", "MySQL host that accepts and never answers",
         ("run", "{tmp}/s.toml", "--storage",
          f"mysql+pymysql://u:{SECRET}@127.0.0.1:{{silent}}/db"), 2,
         "no answer from the database server within 1 s", _study,
         env=(("ABLATE_CONNECT_TIMEOUT", "1"),), absent=(SECRET,)),
    Case("storage", "show on an empty PostgreSQL database", ("show", "bad", "--storage",
                                                             "{pgempty}"), 2,
         "holds no Optuna studies", after=lambda t: _pg_still_empty()),
    # disks and outputs
    Case("disk", "export --csv onto the study database",
         ("export", "bad", "--csv", "{tmp}/done.db", *DONE), 2, "that is the study database",
         _done, same=("done.db",)),
    Case("disk", "export --markdown onto the database's -wal file",
         ("export", "bad", "--markdown", "{tmp}/done.db-wal", *DONE), 2,
         "that is the study database", _done, same=("done.db",)),
    Case("disk", "export --latex onto another SQLite database",
         ("export", "bad", "--latex", "{tmp}/notes.db", *DONE), 2, "is an SQLite database",
         lambda t: (_done(t), _sqlite_file(t / "notes.db")), same=("done.db", "notes.db")),
    Case("disk", "export --pareto through a symlink to the database",
         ("export", "bad", "--pareto", "{tmp}/link.csv", *DONE), 2,
         "that is the study database",
         lambda t: (_done(t), (t / "link.csv").symlink_to(t / "done.db")), same=("done.db",)),
    Case("disk", "export --csv into a directory", ("export", "bad", "--csv", "{tmp}", *DONE), 2,
         "is a directory", _done, same=("done.db",)),
    Case("disk", "an SQLite -journal file of another database",
         ("export", "bad", "--csv", "{tmp}/notes.db-journal", *DONE), 2,
         "is an SQLite database (or one of its",
         lambda t: (_done(t), _sqlite_file(t / "notes.db"))),
    Case("disk", "report -o onto the study database",
         ("report", "bad", "-o", "{tmp}/done.db", *DONE), 2, "that is the study database",
         _done, same=("done.db",)),
    Case("disk", "report --images is a file", ("report", "bad", "-o", "{tmp}/r.html",
                                               "--images", "{tmp}/s.toml", *DONE), 2,
         "is a file, not a directory", _done, same=("done.db", "s.toml")),
    Case("disk", "predict -o onto its own input", _predict_to("{tmp}/test.csv"), 2,
         "that is an input of this command", _predict_input(rows=5), same=("test.csv",)),
    Case("disk", "predict -o onto the study database", _predict_to("{tmp}/done.db"), 2,
         "that is the study database", _predict_input(rows=5), same=("done.db",)),
    Case("disk", "embed -o onto the study database",
         ("embed", "bad", "--trial", "0", "-o", "{tmp}/done.db", *DONE), 2,
         "that is the study database", _done, same=("done.db",)),
    Case("disk", "cross-eval --markdown onto an SQLite file",
         ("cross-eval", "--train", "digits", "--test", "digits", "--markdown",
          "{tmp}/notes.db", "--storage", "{new}"), 2, "is an SQLite database",
         lambda t: _sqlite_file(t / "notes.db"), same=("notes.db",)),
    Case("disk", "SQLite database that may not grow (disk full)", ("run", "{tmp}/s.toml", *DONE),
         2, "disk full while writing the database", _disk_full, after=_still_consistent,
         patches=True),
    Case("disk", "disk full while storing a trial's weights", S, 2,
         "disk full while writing", _disk_full_on_upload, after=_upload_failure_recorded,
         writes_nothing=False, patches=True),
    Case("disk", "output file name too long",
         ("export", "bad", "--csv", "{tmp}/" + "o" * 300 + ".csv", *DONE), 2,
         "File name too long", _done, same=("done.db",)),
    Case("disk", "report output folder does not exist",
         ("report", "bad", "-o", "{tmp}/no/r.html", *DONE), 2, "does not exist", _done,
         same=("done.db",)),
    # artifacts
    Case("artifact", "predict with a corrupt weights artifact (no checksum)", PREDICT, 2,
         "are corrupt or not a weights file",
         lambda t: (_corrupt_weights(t, "kaggle"), _kaggle_csv(t / "test.csv", 5, False)),
         same=("done.db",)),
    Case("artifact", "predict with another model's weights (no checksum)", PREDICT, 2,
         "do not fit its resnet-lite model",
         lambda t: (_foreign_weights(t), _kaggle_csv(t / "test.csv", 5, False)),
         same=("done.db",)),
    Case("artifact", "embed with a corrupt weights artifact (no checksum)",
         ("embed", "bad", "--trial", "0", "-o", "{tmp}/e.html", *DONE), 2,
         "are corrupt or not a weights file", _corrupt_weights, same=("done.db",)),
    Case("artifact", "predict on an input with only a header", PREDICT, 2,
         "no data rows under the header", _predict_input(rows=0), same=("done.db",),
         after=lambda t: (t / "sub.csv").exists() and pytest.fail("wrote a submission")),
    Case("artifact", "predict on an input with a byte-order mark", PREDICT, 2,
         "byte-order mark", _predict_input(rows=3, bom=True), same=("done.db",)),
    Case("artifact", "predict on an input that is not UTF-8", PREDICT, 2, "not UTF-8 text",
         _predict_input(rows=3, tail=b"\xc3\x28\n"), same=("done.db",)),
    Case("artifact", "predict on an input with pixels above 255", PREDICT, 2,
         "pixel values must be 0..255", _predict_input(rows=3, tail=b",".join(
             [b"300"] * 784) + b"\n"), same=("done.db",)),
    Case("artifact", "predict on a labelled CSV (wrong header)", PREDICT, 2,
         "expected the header pixel0", _predict_input(rows=3, head="label,pixel0"),
         same=("done.db",)),
]


def _sqlite_exec(path: Path, sql: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=delete")
    conn.execute(sql)
    conn.commit()
    conn.close()


PG_EMPTY: list[str] = []  # the URL of an empty PostgreSQL schema, set by a fixture


def _pg_still_empty() -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(PG_EMPTY[0])
    try:
        with engine.connect() as conn:
            assert sa.inspect(conn).get_table_names() == []  # nothing created
    finally:
        engine.dispose()

