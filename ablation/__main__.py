"""``python -m ablation`` is the ``ablate`` command."""

from ablation.cli import main

main()
