"""Terminal display (the only rich importer): live progress of a run, and summary tables."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.table import Table

from ablation.analysis.metrics import METRICS
from ablation.analysis.records import EpochRecord, Metrics
from ablation.engine.space import Point
from ablation.reporting.summary import ComparedRow
from ablation.reporting.tables import columns_for, fmt_mean_std, fmt_p
from ablation.spec.study import StudySpec


class RichProgress:
    """One line per finished trial, and a transient status line for the running epoch."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self._status: Status | None = None
        self._done = 0
        self._remaining = 0

    def study_start(self, spec: StudySpec, total: int, remaining: int) -> None:
        self._remaining, self._done = remaining, 0  # counts restart for each stage
        # escape: "name[dataset=digits]" would otherwise be read as rich markup and vanish
        self.console.print(f"[bold]{escape(spec.storage_name)}[/]: {total} trials "
                           f"({len(spec.seeds)} seeds), {total - remaining} already done")

    def trial_start(self, point: Point, trial_number: int) -> None:
        self._point, self._number = point, trial_number
        status = self.console.status(self._head())
        status.start()
        self._status = status

    def _head(self) -> str:
        return (f"[{self._done + 1}/{self._remaining}] trial {self._number} "
                f"{point_text(self._point)}")

    def epoch(self, record: EpochRecord, epochs: int) -> None:
        if self._status is not None:
            self._status.update(f"{self._head()}  epoch {record.epoch}/{epochs}  "
                                f"val acc {100 * record.val_accuracy:.2f}%")

    def trial_end(self, point: Point, metrics: Metrics | None, state: str) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        self._done += 1
        tail = (f"test acc {100 * metrics.test_accuracy:.2f}%  loss {metrics.test_loss:.4f}  "
                f"{metrics.train_seconds:.1f} s" if metrics else state)
        self.console.print(f"[{self._done}/{self._remaining}] trial {self._number} "
                           f"{point_text(point)}  {tail}")


    def waiting(self, running: int, grace_seconds: int) -> None:
        self.console.print(f"waiting for {running} trial(s) running in other workers (taken "
                           f"over here if one stops beating for {grace_seconds} s)")


class WorkerProgress:
    """Plain lines tagged with the worker, for several workers sharing one terminal."""

    def __init__(self, tag: str) -> None:
        self.console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)
        self.tag = tag
        self._numbers: dict[str, int] = {}

    def study_start(self, spec: StudySpec, total: int, remaining: int) -> None:
        self.console.print(f"[{self.tag}] {spec.storage_name}: {remaining} of {total} trials "
                           "left")

    def trial_start(self, point: Point, trial_number: int) -> None:
        self._numbers[point.key] = trial_number
        self.console.print(f"[{self.tag}] trial {trial_number} {point_text(point)} started")

    def epoch(self, record: EpochRecord, epochs: int) -> None:
        pass  # one line per trial is enough with several workers writing

    def trial_end(self, point: Point, metrics: Metrics | None, state: str) -> None:
        tail = (f"test acc {100 * metrics.test_accuracy:.2f}%  {metrics.train_seconds:.1f} s"
                if metrics else state)
        self.console.print(f"[{self.tag}] trial {self._numbers.get(point.key, '?')} "
                           f"{point_text(point)}  {tail}")

    def waiting(self, running: int, grace_seconds: int) -> None:
        self.console.print(f"[{self.tag}] waiting for {running} trial(s) running elsewhere "
                           f"(taken over if one stops beating for {grace_seconds} s)")


def point_text(point: Point) -> str:
    """'optimizer=sgd seed=1' style description of a point."""
    what = point.label if point.axis == "baseline" else f"{point.axis}={point.label}"
    return f"{what} seed={point.seed}"


TERMINAL_METRICS = 4  # more columns wrap on an 120-column terminal; export has them all


def print_summary(study: str, rows: Sequence[ComparedRow], metric: str) -> None:
    """The study's table: one row per axis value, mean ± std over seeds of the compared metric
    and the next table metrics the trials recorded, then p, verdict and rank."""
    metrics = columns_for([c.row for c in rows], metric)[:TERMINAL_METRICS]
    table = Table(title=escape(study))  # "name[dataset=digits]" is not rich markup
    headers = ["axis", "value", "n", *(METRICS.get(m).header for m in metrics), "p",
               "verdict", "rank"]
    for col in headers:
        table.add_column(col, justify="left" if col in ("axis", "value", "verdict") else "right")
    for c in rows:
        r = c.row
        table.add_row(escape(r.axis), escape(r.shown_label), str(r.n),
                      *(fmt_mean_std(r.stats[m], METRICS.get(m).digits) if m in r.stats
                        else "—" for m in metrics),
                      fmt_p(c.comparison.p) if c.comparison else "—", c.verdict_text,
                      str(c.rank))
    Console(width=max(120, Console().width)).print(table)
