"""A trial's heartbeat: while it runs, its Optuna trial and its point are refreshed regularly, so
a worker that dies is noticed (its heartbeat goes stale) and its point is taken over."""

from __future__ import annotations

import threading

from ablation.engine.storage import db
from ablation.engine.storage.store import Store


class Heartbeat:
    """Refreshes the trial's and the point's heartbeat while a trial runs (a context manager)."""

    def __init__(self, store: Store, trial_id: int, point_id: int) -> None:
        self._store, self._trial_id, self._point_id = store, trial_id, point_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._store.heartbeat_seconds):
            try:
                self._store.optuna.record_heartbeat(self._trial_id)
                db.beat(self._store.engine, [self._point_id])
            except Exception:  # noqa: BLE001 - a lock or a dropped connection: beat again next
                # time; a thread that died here would let another worker take over a live trial.
                continue

    def __enter__(self) -> Heartbeat:
        self._store.optuna.record_heartbeat(self._trial_id)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
