"""How many workers one PostgreSQL serves: claims per second, duplicates and lock errors.

N worker processes run the engine's real path (``Worker.run``: fail_stale_trials, the conditional
UPDATE of ``db.claim_point``, Optuna ask, the run record, the heartbeat, one epoch row and report
per epoch, the metrics as user attributes, the confusion-matrix artifact, tell, the point marked
done) with a trainer that does no work and keeps no model, so every second is storage traffic
and the processes never import torch (~40 MB each instead of ~330 MB; see docs/clusters.md).

The workers start, open the store and wait at a barrier; the clock runs from the moment all are
released until the last exits. Afterwards the database is checked: each point must be done by
exactly one COMPLETE trial, and each point's training must have been started exactly once (the
trainer logs it). Lock errors are errors the workers saw from the database (deadlocks,
serialization failures, "too many clients"); a worker that hits one starts over, as a restarted
worker would.

    python benchmarks/bench_claims.py --admin postgresql://postgres@127.0.0.1:5499/postgres \
        --workers 8,32,64 --points 640

``--admin`` is a server where the benchmark may create and drop its own scratch database.
Use a server of your own: 64 workers hold ~2 connections each, enough to lock other users of a
shared server (max_connections = 100 by default) out while the benchmark runs.

    python benchmarks/bench_claims.py --admin postgresql://postgres@127.0.0.1:5499/postgres \
        --workers 64 --pooler 127.0.0.1:6499     # the workers through PgBouncer
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STUDY = """
[study]
name = "claims"
seeds = {seeds}
[baseline]
dataset = "digits"
epochs = {epochs}
optimizer = "nadam"
[axes.optimizer]
choices = ["sgd", "adam", "nadam", "rmsprop"]
"""


@dataclass
class NoWork:
    """What a trainer returns, without a model: the record path stores no weights."""

    metrics: Any
    curve: tuple[Any, ...] = ()
    model: Any = None
    precision: str = "fp32"
    data: Any = None
    batcher: Any = None


def no_work_fit(config: Any, seed: int, *, data_dir: Path, on_epoch: Any = None,
                checkpoint: Any = None) -> NoWork:
    """Reports every epoch at once and returns made-up metrics; logs the point it was given."""
    from ablation.analysis.records import EpochRecord, Metrics
    from ablation.spec.space import point_key

    TRAINED.append(point_key(config, seed))
    score = 0.5 + seed / 10_000
    for epoch in range(1, config.epochs + 1):
        if on_epoch is not None:
            on_epoch(EpochRecord(epoch, 1.0, score, 1.0, score, 0.1, 0.0))
    return NoWork(Metrics(test_loss=score, test_accuracy=score, macro_f1=score,
                          val_loss=score, val_accuracy=score, train_seconds=0.0,
                          infer_seconds=0.0, infer_ms_per_image=0.0, params=1, state_bytes=1,
                          epochs_run=config.epochs, confusion=((1, 0), (0, 1))))


TRAINED: list[str] = []


def child(url: str, spec_file: str, barrier: Path, artifacts: str) -> None:
    """One worker process: open the store, wait at the barrier, run until nothing is left.

    The spec comes pickled, as local and Ray workers get it: parsing a study file checks its
    names against the model and optimizer registries, which live beside their torch code.
    """
    import optuna

    from ablation.engine.options import RunOptions
    from ablation.engine.storage import db
    from ablation.engine.storage.store import open_store
    from ablation.engine.trials.register import open_study
    from ablation.engine.trials.worker import Worker

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    spec = pickle.loads(Path(spec_file).read_bytes())
    options = RunOptions(url, Path(artifacts), Path("."), threads=1)
    claim_seconds: list[float] = []
    real_claim = db.claim_point

    def timed_claim(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return real_claim(*args, **kwargs)
        finally:
            claim_seconds.append(time.perf_counter() - t0)

    db.claim_point = timed_claim  # type: ignore[assignment]  # measured, not changed
    try:
        store = open_store(url)
        study = open_study(spec, store)
    except Exception as exc:  # noqa: BLE001 - e.g. "too many clients": reported, not hidden
        cause = exc.__cause__ or exc
        print(json.dumps({"start_error": f"{type(exc).__name__}: "
                          f"{str(cause).strip().splitlines()[0]}"}), flush=True)
        (barrier / f"failed-{os.getpid()}").touch()
        return
    (barrier / f"ready-{os.getpid()}").touch()
    while not (barrier / "go").exists():
        if not barrier.exists():  # the benchmark gave up: do not linger
            return
        time.sleep(0.05)
    errors: list[str] = []
    while True:
        try:
            Worker(spec, options, store, study, no_work_fit).run()
            break
        except Exception as exc:  # noqa: BLE001 - counted; the worker starts over
            errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
            if len(errors) > 50:
                break
            time.sleep(0.2)
    print(json.dumps({"trained": TRAINED, "errors": errors, "claims": claim_seconds,
                      "torch": "torch" in sys.modules}), flush=True)


def pss_mb(pid: int) -> float:
    """Proportional set size of a process (shared pages split among their users), MB."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0
    return next(int(line.split()[1]) for line in text.splitlines()
                if line.startswith("Pss:")) / 1024


def server_stats(engine: Any, name: str) -> tuple[int, int, int]:
    """(connections to the scratch database now, deadlocks and commits it counted so far)."""
    import sqlalchemy as sa

    with engine.connect() as conn:
        conns = conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"),
                             {"d": name}).scalar_one()
        dead, commits = conn.execute(sa.text(
            "SELECT deadlocks, xact_commit FROM pg_stat_database WHERE datname = :d"),
            {"d": name}).one()
    return int(conns), int(dead or 0), int(commits or 0)


def start_workers(n: int, url: str, spec_file: Path, barrier: Path, artifacts: Path
                  ) -> list[subprocess.Popen[str]]:
    """Start ``n`` worker processes and wait until every one waits at the barrier."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, __file__, "--child", url, str(spec_file),
                               str(barrier), str(artifacts)], env=env, stdout=subprocess.PIPE,
                              text=True) for _ in range(n)]
    while len(list(barrier.glob("ready-*"))) + len(list(barrier.glob("failed-*"))) < n:
        if any(p.poll() not in (None, 0) for p in procs):
            for p in procs:
                p.kill()
            raise SystemExit("a worker crashed while starting")
        time.sleep(0.2)
    return procs


def run_once(admin: str, n: int, points: int, epochs: int, tmp: Path,
             pooler: str | None = None) -> dict[str, Any]:
    """One measurement with ``n`` workers on a fresh scratch database.

    ``pooler`` (HOST:PORT of PgBouncer in front of the same server): the workers connect
    through it; registration and the server statistics still go straight to the server.
    """
    import sqlalchemy as sa

    from ablation.engine.options import RunOptions
    from ablation.engine.storage.store import open_store
    from ablation.engine.trials.register import register
    from ablation.spec.files import load_study
    from benchmarks._common import loadavg

    name = f"bench_claims_{uuid.uuid4().hex[:8]}"
    admin_engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    url = sa.engine.make_url(admin).set(database=name).render_as_string(hide_password=False)
    worker_url = url
    if pooler:
        host, _, port = pooler.partition(":")
        worker_url = sa.engine.make_url(url).set(host=host, port=int(port)).render_as_string(
            hide_password=False)
    study_file = tmp / f"{name}.toml"
    study_file.write_text(STUDY.format(seeds=points // 4, epochs=epochs))
    spec = load_study(str(study_file))
    spec_file = tmp / f"{name}.pickle"
    spec_file.write_bytes(pickle.dumps(spec))
    store = open_store(url)
    register(spec, RunOptions(url, tmp / "art", Path(".")), store)
    barrier = tmp / name
    barrier.mkdir()
    try:
        result = measure(n, worker_url, spec_file, barrier, tmp / "art", admin_engine, name)
        result.update(check(store, spec.storage_name, points), load=loadavg())
        return result
    finally:
        store.engine.dispose()
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin_engine.dispose()


def measure(n: int, url: str, spec_file: Path, barrier: Path, artifacts: Path,
            admin_engine: Any, name: str) -> dict[str, Any]:
    """Release the workers, sample connections and memory, collect what they report."""
    procs = start_workers(n, url, spec_file, barrier, artifacts)
    pss = sum(pss_mb(p.pid) for p in procs)
    _, dead0, commits0 = server_stats(admin_engine, name)
    peak = 0
    t0 = time.perf_counter()
    (barrier / "go").touch()
    while any(p.poll() is None for p in procs):
        peak = max(peak, server_stats(admin_engine, name)[0])
        time.sleep(0.25)
    seconds = time.perf_counter() - t0
    _, dead1, commits1 = server_stats(admin_engine, name)
    lines = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in procs]
    reports = [r for r in lines if "start_error" not in r]
    trained = Counter(k for r in reports for k in r["trained"])
    claims = sorted(s for r in reports for s in r["claims"])
    assert not any(r["torch"] for r in reports), "a no-work worker imported torch"
    return {"workers": n, "seconds": seconds, "peak_connections": peak,
            "could_not_start": Counter(r["start_error"][-100:] for r in lines
                                       if "start_error" in r),
            "commits": commits1 - commits0, "deadlocks": dead1 - dead0,
            "errors": Counter(e.split(":")[0] for r in reports for e in r["errors"]),
            "error_samples": sorted({e for r in reports for e in r["errors"]})[:3],
            "started_twice": sum(c > 1 for c in trained.values()),
            "claim_ms_p50": 1000 * statistics.median(claims) if claims else 0.0,
            "claim_ms_p95": 1000 * claims[int(0.95 * (len(claims) - 1))] if claims else 0.0,
            "pss_mb_total": pss, "pss_mb_per_worker": pss / n}


def check(store: Any, name: str, points: int) -> dict[str, Any]:
    """Done points, COMPLETE trials per point, failed trials."""
    import optuna

    from ablation.engine.storage import db

    rows = db.list_points(store.engine, name)
    trials = optuna.load_study(study_name=name, storage=store.optuna).get_trials()
    complete = Counter(t.user_attrs.get("point_key") for t in trials if t.state.name == "COMPLETE")
    return {"points": points, "done": sum(r.state == "done" for r in rows),
            "duplicates": sum(c > 1 for c in complete.values()),
            "failed_trials": sum(t.state.name == "FAIL" for t in trials),
            "complete": len(complete)}


def main() -> None:
    """Parse arguments and print one JSON line per worker count."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        url, study_file, barrier, artifacts = sys.argv[2:6]
        child(url, study_file, Path(barrier), artifacts)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin", required=True, help="SQLAlchemy URL of a PostgreSQL "
                        "database on the server, used to create and drop the scratch database")
    parser.add_argument("--workers", default="8,32,64")
    parser.add_argument("--points", type=int, default=640)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--pooler", help="HOST:PORT of a PgBouncer in front of the --admin "
                        "server; the workers connect through it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-claims-") as tmp:
        for n in (int(w) for w in args.workers.split(",")):
            result = run_once(args.admin, n, args.points, args.epochs, Path(tmp), args.pooler)
            result["pooler"] = args.pooler
            result["claims_per_s"] = round(result["complete"] / result["seconds"], 1)
            result["commits_per_trial"] = round(result["commits"] / max(1, result["complete"]))
            print(json.dumps(result, default=str), flush=True)


if __name__ == "__main__":
    main()
