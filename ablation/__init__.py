"""ablate: hyperparameter ablation studies for image-classification CNNs."""

__version__ = "0.1.0"
