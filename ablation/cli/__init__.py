"""The ``ablate`` command: thin click commands over the library, one module per kind of command.

Heavy libraries (torch, optuna) are imported inside the commands so ``ablate --help`` is instant.
"""

from __future__ import annotations

import click

from ablation.cli.common import Group
from ablation.cli.listing import datasets, models, studies, validate
from ablation.cli.model_commands import embed, predict
from ablation.cli.planning import compare, plan
from ablation.cli.reading import dashboard, export, report, show
from ablation.cli.running import cross_eval, run, worker


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ablate")
def main() -> None:
    """Ablation studies for image-classification CNNs, repeated over seeds, stored in SQL."""


for command in (run, worker, studies, validate, models, datasets, show, export, predict,
                cross_eval, report, embed, dashboard, plan, compare):
    main.add_command(command)
