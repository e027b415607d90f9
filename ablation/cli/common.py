"""What the commands share: the click group, options, and writing outputs.

Heavy libraries (torch, optuna) are imported inside the commands so ``ablate --help`` is instant.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from ablation.analysis.metrics import METRICS, selectable
from ablation.analysis.stats import ADJUSTMENTS, HOLM

DEFAULT_STORAGE = "sqlite:///storage/ablate.db"


class Group(click.Group):
    """Ends every command with one clear line and a status on failure (cli/guard.py)."""

    def invoke(self, ctx: click.Context) -> Any:
        from ablation.cli.guard import guarded

        return guarded(lambda: super(Group, self).invoke(ctx), ctx)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """As click's, refusing a NUL byte in any argument (no path or name holds one)."""
        for arg in args:
            if "\x00" in arg:
                raise click.UsageError(f"argument {arg!r} contains a NUL byte", ctx)
        return super().parse_args(ctx, args)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """As click's, with tracebacks of unexpected errors scrubbed of passwords."""
        from ablation.cli.guard import scrubbing_excepthook

        sys.excepthook = scrubbing_excepthook
        return super().main(*args, **kwargs)


storage_option = click.option(
    "--storage", default=lambda: os.environ.get("ABLATE_STORAGE", DEFAULT_STORAGE),
    show_default=DEFAULT_STORAGE, help="SQLAlchemy URL of the study database (env ABLATE_STORAGE).")
data_dir_option = click.option(
    "--data-dir", type=click.Path(path_type=Path),
    default=lambda: os.environ.get("ABLATE_DATA_DIR", "storage/datasets"),
    show_default="storage/datasets", help="Where data sets are read from / downloaded to "
    "(env ABLATE_DATA_DIR).")


def _artifacts_location(_ctx: click.Context, _param: click.Parameter,
                        value: str | None) -> Path | str | None:
    # An s3:// URL stays text (a Path would fold its '//'); anything else is a folder.
    return value if value is None or value.startswith("s3://") else Path(value)


artifacts_option = click.option(
    "--artifacts", default=None, callback=_artifacts_location, metavar="DIR|s3://BUCKET/PREFIX",
    help="Artifact and checkpoint folder, or an S3-compatible bucket (credentials and endpoint "
    "from boto3's usual variables, e.g. AWS_ENDPOINT_URL); see docs/clusters.md. Default: "
    "beside the SQLite file, else storage/artifacts.")
trainer_option = click.option(
    "--trainer", default=None, metavar="MODULE:FUNCTION",
    help="Train with your own function instead of ablate's (same signature as "
    "ablation.training.fit.fit; see docs/trainers.md). Only the command line names code to "
    "import: a study file never does.")


def variant_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--dataset/--model/--epochs: overrides of the study's baseline (stored as a variant)."""
    for option in reversed([
        click.option("--dataset", help="Override the baseline data set (e.g. digits, mnist)."),
        click.option("--model", help="Override the baseline model."),
        click.option("--epochs", type=click.IntRange(min=1, max=100_000),
                     help="Override the number of epochs.")]):
        fn = option(fn)
    return fn


def study_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """What to run and where: shared by ``run`` and ``worker`` so both build the same study."""
    options: list[Callable[[Any], Any]] = [
        click.argument("study"), variant_options,
        click.option("--seeds", type=click.IntRange(min=1, max=1000),
                     help="Number of seeds per configuration (at most 1000)."),
        storage_option, data_dir_option, artifacts_option, trainer_option,
        click.option("--max-trials", type=click.IntRange(min=1, max=2**31 - 1), default=None,
                     help="Stop after this many trials; the rest stay for the next run."),
        click.option("--heartbeat-grace", type=click.IntRange(min=2, max=7 * 86400),
                     default=60, show_default=True, help="Seconds without a heartbeat after "
                     "which a running trial counts as dead and its point is retried."),
        click.option("--retry-failed", is_flag=True, help="Try the points that failed for "
                     "good (a configuration error, or 3 failed attempts) once more.")]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    # click's FloatRange lets NaN through (every comparison with NaN is false).
    if value is not None and value != value:
        raise click.BadParameter("must be a number, not nan", ctx, param)
    return value


level_option = click.option(
    "--level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05,
    show_default=True, callback=_finite,
    help="Significance level of the tests against the baseline.")
adjust_option = click.option(
    "--adjust", type=click.Choice(ADJUSTMENTS.names()), default=HOLM,
    show_default=True,
    help="Correction of the verdicts for the many comparisons with the baseline: holm (Holm "
         "1979 on paired t-tests), dunnett (Dunnett 1955, unpaired, pooled variance; Holm when "
         "the cells' spreads differ) or none. Verdict and rank always follow the adjusted p "
         "(docs/statistics.md).")
margin_option = click.option(
    "--margin", type=click.FloatRange(0, min_open=True), default=None, callback=_finite,
    help="Equivalence margin in the compared metric's displayed unit (e.g. 0.3 accuracy "
         "points): a cell whose difference from the baseline is shown inside ±margin is "
         "'equivalent'. Default: the study's margin, else the test set's resolution "
         "(docs/statistics.md).")
metric_option = click.option(
    "--metric", type=click.Choice([m for m in METRICS if METRICS.get(m).selectable]),
    default=None, help="Metric the verdict and rank compare (default: the test-side "
    f"counterpart of the study's own metric; selectable: {', '.join(selectable())}).")


def names(value: str) -> list[str]:
    """A comma-separated list, blanks dropped."""
    return [v.strip() for v in value.split(",") if v.strip()]


def check_dir(path: Path, storage: str | None = None, option: str = "output") -> None:
    """Fail before any slow work when the output cannot be written (missing folder, a
    directory, the study database or any SQLite file: see cli/outputs.py)."""
    from ablation.cli.outputs import check_output

    check_output(path, storage, option=option)


def write_text(path: Path, text: str, storage: str | None = None,
               inputs: Sequence[Path] = (), option: str = "output") -> None:
    """Write atomically (or to stdout for '-'), never over ``storage``'s database, any SQLite
    file or an input; a bad path is a user error (cli/outputs.py)."""
    from ablation.cli.outputs import write_output

    write_output(path, text, storage, inputs, option)
