"""TrainConfig's public path for ``--trainer`` code (docs/trainers.md); it lives in
config/trainconfig.py, below everything that trains."""

from ablation.config.trainconfig import TrainConfig

__all__ = ["TrainConfig"]
