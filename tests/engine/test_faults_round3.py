"""Faults of issue #21 (round 3), in one process with fake trainers: the first trial's failure
keeps its reason, trials failed by a stale heartbeat carry one, and a worker whose trial was
taken over while it was paused says so in one line and goes on."""

from __future__ import annotations

import signal
import time

import optuna
import pytest
import sqlalchemy as sa

from ablation.engine.options import RunOptions, Silent
from ablation.engine.storage import db
from ablation.engine.storage.store import open_store
from ablation.engine.trials.failures import failed_for_good
from ablation.engine.trials.reaper import LOST
from ablation.engine.trials.worker import TAKEN_OVER, run_study
from tests.fakes import FakeFit, make_spec


def _options(url: str, tmp_path, grace: int = 60) -> RunOptions:
    return RunOptions(url, tmp_path / "artifacts", tmp_path, grace_seconds=grace)


def test_the_reason_of_trial_0_is_kept(storage_url, tmp_path):
    run_study(make_spec(seeds=1), _options(storage_url, tmp_path), FakeFit(fail_on_call=1))
    store = open_store(storage_url)
    (failed,) = failed_for_good(store.optuna, store.engine, "opt")
    assert failed.reason == "RuntimeError: stopped on purpose"  # trial 0: 0 is not "no trial"


def test_a_trial_failed_by_its_stale_heartbeat_carries_a_reason(storage_url, tmp_path):
    spec = make_spec(seeds=1)
    run_study(spec, _options(storage_url, tmp_path, grace=2), FakeFit())
    store = open_store(storage_url, grace_seconds=2)
    study = optuna.load_study(study_name="opt", storage=store.optuna)
    stale = study.ask()
    store.optuna.record_heartbeat(stale._trial_id)  # beat once, then its worker died
    time.sleep(2.5)
    run_study(spec, _options(storage_url, tmp_path, grace=2), FakeFit(), store=store)
    trial = study.get_trials()[stale.number]
    assert trial.state.name == "FAIL" and trial.user_attrs.get("failure") == LOST


class TakenOverFit(FakeFit):
    """On its first call, does what another worker does while this one is paused past the grace
    period: fails the running trial as stale, takes its point over and finishes it."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def __call__(self, config, seed, **kw):
        if not self.calls:
            store = open_store(self.url)
            study = optuna.load_study(study_name="opt", storage=store.optuna)
            (running,) = study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
            store.optuna.set_trial_user_attr(running._trial_id, "failure", LOST)
            store.optuna.set_trial_state_values(running._trial_id,
                                                optuna.trial.TrialState.FAIL)
            with store.engine.begin() as conn:
                conn.execute(db.POINTS.update().where(db.POINTS.c.trial_number == running.number)
                             .values(worker="other", state="done"))
        return super().__call__(config, seed, **kw)


class Lines(Silent):
    def __init__(self) -> None:
        self.ends: list[str] = []

    def trial_end(self, point, metrics, state) -> None:
        self.ends.append(state if metrics is None else "complete")


def test_a_worker_whose_trial_was_taken_over_says_so_and_goes_on(storage_url, tmp_path):
    lines = Lines()
    summary = run_study(make_spec(seeds=1), _options(storage_url, tmp_path),
                        TakenOverFit(storage_url), lines)
    assert lines.ends[0] == TAKEN_OVER and lines.ends[1:] == ["complete"] * 2, lines.ends
    store = open_store(storage_url)
    first = optuna.load_study(study_name="opt", storage=store.optuna).get_trials()[0]
    assert first.state.name == "FAIL" and first.user_attrs["failure"] == LOST  # not rewritten
    with store.engine.connect() as conn:  # left as the other worker left it
        taken = conn.execute(sa.select(db.POINTS).where(db.POINTS.c.trial_number == 0)).one()
    assert taken.worker == "other" and taken.state == "done" and taken.attempts == 1
    assert summary.ran == 3 and summary.remaining == 0


@pytest.mark.slow
def test_sigstop_past_the_grace_period_then_sigcont_ends_cleanly(tmp_path):
    from tests.fakes import GRID, _ablate, _env, _finish

    study = tmp_path / "grid.toml"
    study.write_text(GRID.replace("seeds = 3", "seeds = 1").format(epochs=3))
    url, env = f"sqlite:///{tmp_path / 'grid.db'}", _env(tmp_path, "sleep:1")
    args = ("worker", str(study), "--storage", url, "--heartbeat-grace", "2")
    paused = _ablate(*args, env=env)
    deadline = time.monotonic() + 60
    while not (tmp_path / "log").exists():
        assert paused.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(0.5)
    paused.send_signal(signal.SIGSTOP)
    code, out = _finish(_ablate(*args, env=env))  # takes the paused worker's point over
    assert code == 0, out
    paused.send_signal(signal.SIGCONT)
    code, out = _finish(paused)
    assert code == 0 and "Traceback" not in out and out.count("taken over:") == 1, out


def test_the_stored_spec_follows_a_top_up(storage_url, tmp_path):
    from ablation.engine.results.reader import spec_record
    from ablation.spec.study import with_overrides

    spec = make_spec(seeds=3, choices=("sgd", "nadam"))
    run_study(spec, _options(storage_url, tmp_path), FakeFit())
    run_study(with_overrides(spec, seeds=7), _options(storage_url, tmp_path), FakeFit())
    store = open_store(storage_url)
    assert spec_record(store, "opt")["seeds"] == list(range(7))
    run_study(with_overrides(spec, seeds=2), _options(storage_url, tmp_path), FakeFit())
    assert spec_record(store, "opt")["seeds"] == list(range(7))  # still what is stored
