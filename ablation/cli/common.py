"""What the commands share: the click group, options, and writing outputs.

Heavy libraries (torch, optuna) are imported inside the commands so ``ablate --help`` is instant.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ablation.analysis.metrics import METRICS, selectable
from ablation.errors import UserError

DEFAULT_STORAGE = "sqlite:///storage/ablate.db"


class Group(click.Group):
    """Turns UserError into one line on stderr and exit status 2; Ctrl-C into a resume hint."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("\ninterrupted: the running trial is marked failed; run the same command "
                       "again to resume where it stopped", err=True)
            ctx.exit(130)


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
        click.option("--epochs", type=click.IntRange(min=1),
                     help="Override the number of epochs.")]):
        fn = option(fn)
    return fn


def study_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """What to run and where: shared by ``run`` and ``worker`` so both build the same study."""
    options: list[Callable[[Any], Any]] = [
        click.argument("study"), variant_options,
        click.option("--seeds", type=click.IntRange(min=1),
                     help="Number of seeds per configuration."),
        storage_option, data_dir_option, artifacts_option, trainer_option,
        click.option("--max-trials", type=click.IntRange(min=1), default=None,
                     help="Stop after this many trials; the rest stay for the next run."),
        click.option("--heartbeat-grace", type=click.IntRange(min=2), default=60,
                     show_default=True, help="Seconds without a heartbeat after which a "
                     "running trial counts as dead and its point is retried.")]
    for option in reversed(options):
        fn = option(fn)
    return fn


level_option = click.option(
    "--level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05,
    show_default=True, help="Significance level of the tests against the baseline.")
adjust_option = click.option(
    "--adjust", type=click.Choice(["holm", "dunnett", "none"]), default="holm",
    show_default=True,
    help="Correction of the verdicts for the many comparisons with the baseline: holm (Holm "
         "1979 on paired t-tests), dunnett (Dunnett 1955, unpaired, pooled variance) or none. "
         "Verdict and rank always follow the adjusted p (docs/statistics.md).")
metric_option = click.option(
    "--metric", type=click.Choice([m for m in METRICS if METRICS.get(m).selectable]),
    default=None, help="Metric the verdict and rank compare (default: the test-side "
    f"counterpart of the study's own metric; selectable: {', '.join(selectable())}).")


def names(value: str) -> list[str]:
    """A comma-separated list, blanks dropped."""
    return [v.strip() for v in value.split(",") if v.strip()]


def check_dir(path: Path) -> None:
    """Fail before any slow work when the output's directory is missing."""
    if str(path) != "-" and not path.parent.is_dir():
        raise UserError(f"cannot write {path}: directory {path.parent} does not exist")


def write_text(path: Path, text: str) -> None:
    """Write atomically (or to stdout for '-'); a bad path is a user error."""
    if str(path) == "-":
        sys.stdout.write(text)
        return
    check_dir(path)
    tmp = path.with_name(f".{path.name}.part")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    click.echo(f"wrote {path}")
