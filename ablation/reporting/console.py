"""Terminal display (the only rich importer): live progress of a run, and summary tables."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.status import Status
from rich.table import Table

from ablation.analysis.records import COMPRESSED, EpochRecord, Metrics, cell_name
from ablation.reporting.summary import NO_MARGIN, ComparedRow, Margin
from ablation.reporting.tables import EFFECT, P_CI, P_EQUIV, verdict_table
from ablation.reporting.text import TextTable
from ablation.spec.space import Point
from ablation.spec.study import StudySpec

LOG_EVERY = 30.0  # seconds: in a log, a running trial's line at most this often (per epoch)


class LogPacer:
    """Whether a running trial writes an epoch line to a log (not a terminal): at the end of an
    epoch once LOG_EVERY seconds have passed since its last line, so a long trial shows life
    every ~30 s or every epoch, whichever is rarer, and short epochs do not flood the file."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock, self._last = clock, clock()

    def start(self) -> None:
        """A trial starts: its first line is due LOG_EVERY seconds from now."""
        self._last = self._clock()

    def due(self) -> bool:
        """True (and the clock restarts) when the epoch that just ended gets a line."""
        now = self._clock()
        if now - self._last < LOG_EVERY:
            return False
        self._last = now
        return True


def epoch_text(record: EpochRecord, epochs: int) -> str:
    """'epoch 3/15  val acc 97.12%' of a running trial."""
    return f"epoch {record.epoch}/{epochs}  val acc {100 * record.val_accuracy:.2f}%"


class RichProgress:
    """One line per finished trial, and a transient status line for the running epoch (in a log,
    an epoch line now and then instead: see LogPacer)."""

    def __init__(self, console: Console | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self._pacer = LogPacer(clock)
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
        self._pacer.start()
        status = self.console.status(self._head())
        status.start()
        self._status = status

    def _head(self) -> str:
        return (f"[{self._done + 1}/{self._remaining}] trial {self._number} "
                f"{point_text(self._point)}")

    def epoch(self, record: EpochRecord, epochs: int) -> None:
        if not self.console.is_terminal:
            if self._pacer.due():
                self.console.print(f"{self._head()}  {epoch_text(record, epochs)}")
        elif self._status is not None:
            self._status.update(f"{self._head()}  {epoch_text(record, epochs)}")

    def trial_end(self, point: Point, metrics: Metrics | None, state: str) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None
        self._done += 1
        tail = trial_figures(metrics, state, loss=True)
        self.console.print(f"[{self._done}/{self._remaining}] trial {self._number} "
                           f"{point_text(point)}  {tail}")


    def waiting(self, running: int, grace_seconds: int) -> None:
        self.console.print(f"waiting for {running} trial(s) running in other workers (taken "
                           f"over here if one stops beating for {grace_seconds} s)")


class WorkerProgress:
    """Plain lines tagged with the worker, for several workers sharing one terminal."""

    def __init__(self, tag: str, console: Console | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.console = console or Console(stderr=True, highlight=False, soft_wrap=True,
                                          markup=False)
        self.tag = tag
        self._numbers: dict[str, int] = {}
        self._pacer = LogPacer(clock)
        self._running = ""

    def study_start(self, spec: StudySpec, total: int, remaining: int) -> None:
        self.console.print(f"[{self.tag}] {spec.storage_name}: {remaining} of {total} trials "
                           "left")

    def trial_start(self, point: Point, trial_number: int) -> None:
        self._numbers[point.key] = trial_number
        self._running = f"[{self.tag}] trial {trial_number} {point_text(point)}"
        self._pacer.start()
        self.console.print(f"{self._running} started")

    def epoch(self, record: EpochRecord, epochs: int) -> None:
        # Several workers share a terminal: their epochs stay quiet there; a log gets a line
        # now and then, so a long trial does not look stuck.
        if not self.console.is_terminal and self._pacer.due():
            self.console.print(f"{self._running}  {epoch_text(record, epochs)}")

    def trial_end(self, point: Point, metrics: Metrics | None, state: str) -> None:
        tail = trial_figures(metrics, state)
        self.console.print(f"[{self.tag}] trial {self._numbers.get(point.key, '?')} "
                           f"{point_text(point)}  {tail}")

    def waiting(self, running: int, grace_seconds: int) -> None:
        self.console.print(f"[{self.tag}] waiting for {running} trial(s) running elsewhere "
                           f"(taken over if one stops beating for {grace_seconds} s)")


def trial_figures(metrics: Metrics | None, state: str, loss: bool = False) -> str:
    """The figures of a finished trial's line: a compressed trial's are its artifact's (the
    worker's state says them), anything else's its test accuracy; a trial without metrics
    shows its state (failed, pruned, taken over)."""
    if metrics is None:
        return state
    seconds = f"{metrics.train_seconds:.1f} s"
    if state.startswith(COMPRESSED):
        return f"{state.removeprefix(COMPRESSED)}  {seconds}"
    lost = f"loss {metrics.test_loss:.4f}  " if loss else ""
    return f"test acc {100 * metrics.test_accuracy:.2f}%  {lost}{seconds}"


def point_text(point: Point) -> str:
    """'optimizer=sgd seed=1' style description of a point."""
    return f"{cell_name(point.axis, point.label)} seed={point.seed}"


WIDE = Console(width=400)  # only measures tables

# In the export; without them the verdict table fits a 120-column terminal. The verdict table
# is built without them (verdict_table's drop), so its notes describe only what is printed.
TERMINAL_DROP = (P_CI, EFFECT, P_EQUIV)


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
                  adjust: str = "holm", margin: Margin = NO_MARGIN) -> None:
    """The verdict table of already compared rows (``summary.compare_rows``) on the terminal."""
    print_table(verdict_table(study, rows, metric, level, adjust, margin, TERMINAL_DROP))


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
