"""Terminal display (the only rich importer): live progress of a run, and summary tables."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.status import Status
from rich.table import Table

from ablation.analysis.records import EpochRecord, Metrics
from ablation.reporting.summary import ComparedRow
from ablation.reporting.tables import P_CI, verdict_table
from ablation.reporting.text import TextTable
from ablation.spec.space import Point, cell_name
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
    return f"{cell_name(point.axis, point.label)} seed={point.seed}"


WIDE = Console(width=400)  # only measures tables

# In the export; without them the verdict table fits a 120-column terminal.
TERMINAL_DROP = ("bootstrap 95% CI", P_CI, "effect")


TERMINAL_METRICS = 4  # more columns wrap on a 120-column terminal; export has them all


def terminal_columns(table: TextTable) -> TextTable:
    """The key columns (up to n) and the first TERMINAL_METRICS others of a metrics table."""
    keys = table.header.index("n") + 1
    keep = list(range(min(len(table.header), keys + TERMINAL_METRICS)))
    return TextTable(table.title, tuple(table.header[i] for i in keep),
                     tuple(tuple(r[i] for i in keep) for r in table.rows), table.notes,
                     tuple(table.right[i] for i in keep) if table.right else ())


def _two_lines(header: str) -> str:
    """A header broken before its bracket ('p adj.\n(Holm)'), the terminal's columns being
    narrow; 'P(improvement)' shortened to 'P(impr.)'."""
    header = header.replace("P(improvement)", "P(impr.)")
    for mark in (" [", " ("):
        if mark in header:
            return header.replace(mark, "\n" + mark[1:], 1)
    return header


def print_summary(study: str, rows: Sequence[ComparedRow], metric: str, level: float = 0.05,
                  adjust: str = "holm") -> None:
    """The verdict table of already compared rows (``summary.compare_rows``) on the terminal."""
    print_table(verdict_table(study, rows, metric, level, adjust))


def print_table(table: TextTable, lines: Sequence[str] = ()) -> None:
    """A table (the verdict table, a plan, ...) on the terminal, its notes below it, then
    ``lines`` (what is pending or failed, where the study is stored)."""
    keep = [i for i, h in enumerate(table.header) if h not in TERMINAL_DROP]
    shown = Table(title=escape(table.title), box=box.SIMPLE_HEAD, pad_edge=False)
    for i in keep:
        right = table.right[i] if table.right else False
        # cells never wrap (a broken interval reads wrong); headers may take two lines
        widest = max((len(row[i]) for row in table.rows), default=1)
        shown.add_column(escape(_two_lines(table.header[i])),
                         justify="right" if right else "left", min_width=widest)
    for row in table.rows:
        shown.add_row(*(escape(row[i]) for i in keep))
    # As wide as the table needs (a cropped column loses a verdict), at least the terminal.
    needed = Measurement.get(WIDE, WIDE.options, shown).maximum
    console = Console(width=max(needed, Console().width), highlight=False)
    console.print(shown)
    for note in table.notes:
        console.print(escape(note), style="dim")
    for line in lines:
        console.print(escape(line))
